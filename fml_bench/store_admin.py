"""Listing and pruning a run store (`fml-bench store`): what is kept, what is no longer read.

A folder of records is *current* when this process would read it: its engine is registered at
the version it was written with, and its fingerprint's TensorFlow, Keras, backend and numpy are
this process's (the data digest is not checked here: that would load every dataset). Anything
else is kept until pruned: records of another environment, of an older engine version, of the
layout before fingerprints (seed files directly in a spec folder), and `.corrupt` files moved
aside when a record failed its check.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path, PurePath

from fml_bench.errors import FmlBenchError
from fml_bench.provenance import describe, key
from fml_bench.store import RunStore, engine_version_read


@dataclass(frozen=True)
class StoreEntry:
    """One folder of the store as `fml-bench store` shows it."""

    folder: PurePath
    engine: str
    spec: str
    made_under: str
    seeds: int
    corrupt: int
    status: str  # "current", "other environment", "old engine version", "before fingerprints"

    @property
    def prunable(self) -> bool:
        return self.status != "current"


def inventory(store: RunStore) -> list[StoreEntry]:
    """Every folder of records in `store`, with its status (a remote store: the fingerprinted ones)."""
    out = []
    for g in store.groups():
        if not engine_version_read(g.engine, g.spec_folder, str(g.engine_version)):
            status = "old engine version"
        else:
            status = "current" if g.current else "other environment"
        out.append(StoreEntry(g.folder, f"{g.engine}-v{g.engine_version}", g.spec_folder,
                              f"{key(g.fingerprint)}: {describe(g.fingerprint)}", len(g.seeds), g.corrupt, status))
    legacy = Path(store.root).glob("*-v*/*/seed-*.json") if isinstance(store.root, Path) else []
    for spec_folder in sorted({p.parent for p in legacy}):
        out.append(StoreEntry(spec_folder, spec_folder.parent.name, spec_folder.name, "no fingerprint",
                              len(list(spec_folder.glob("seed-*.json"))), len(list(spec_folder.glob("*.corrupt"))),
                              "before fingerprints"))
    return out


def prune(store: RunStore, dry_run: bool = False) -> list[Path]:
    """Delete every record the current process would not read and every `.corrupt` file.

    Returns the paths removed (or that would be, with `dry_run`). Local stores only."""
    if not isinstance(store.root, Path):
        raise FmlBenchError(f"prune works on a local store; remove objects of {store.root} with its own tools")
    removed: list[Path] = []
    for entry in inventory(store):
        if entry.status == "before fingerprints":
            removed += sorted(Path(entry.folder).glob("seed-*.json")) + sorted(Path(entry.folder).glob("*.corrupt"))
        elif entry.prunable:
            removed.append(Path(entry.folder))
        else:
            removed += sorted(Path(entry.folder).glob("*.corrupt"))
    if not dry_run:
        for path in removed:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        for folder in sorted(Path(store.root).glob("*-v*/*"), reverse=True) + sorted(Path(store.root).glob("*-v*")):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    return removed
