"""Listing and pruning a run store (`fml-bench store`): what is kept, what is no longer read.

A folder of records is *current* when this process would read it: its engine is registered at
the version it was written with, and its fingerprint's TensorFlow, Keras, backend and numpy are
this process's (the data digest is not checked here: that would load every dataset). Anything
else is kept until pruned: records of another environment, of an older engine version, of the
layout before fingerprints (seed files directly in a spec folder), and `.corrupt` files moved
aside when a record failed its check.

`prune` deletes only inside a folder that is a store: it carries the store's marker
(`FML_BENCH_STORE`, written with the first record), or, for a store older than the marker, every
entry at its top is an engine folder (`<registered engine>-v<n>`). A group whose
`fingerprint.json` does not hash to its folder's name (truncated, edited) is *damaged* and kept:
its records may still be read, and deleting them would retrain.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePath

from fml_bench.engine_registry import engine_names
from fml_bench.errors import FmlBenchError
from fml_bench.provenance import describe, key
from fml_bench.store import STORE_MARKER, RunStore, engine_version_read

DAMAGED = "damaged fingerprint (kept)"


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
        return self.status not in ("current", DAMAGED)


def inventory(store: RunStore) -> list[StoreEntry]:
    """Every folder of records in `store`, with its status (a remote store: the fingerprinted ones)."""
    out = []
    for g in store.groups():
        if not g.fingerprint or key(g.fingerprint) != g.folder.name:
            status = DAMAGED
        elif not engine_version_read(g.engine, g.spec_folder, str(g.engine_version)):
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


def check_is_store(root: Path) -> None:
    """A FmlBenchError unless `root` carries the store's marker or only engine folders at its top."""
    if (root / STORE_MARKER).is_file():
        return
    if not root.is_dir():
        raise FmlBenchError(f"{root} is not a folder: nothing to prune")
    engines = "|".join(re.escape(name) for name in engine_names())
    foreign = [p.name for p in root.iterdir() if not (p.is_dir() and re.fullmatch(rf"({engines})-v\d+", p.name))]
    if foreign or not any(root.iterdir()):
        shown = ", ".join(sorted(foreign)[:5]) or "nothing"
        raise FmlBenchError(f"{root} is not an fml-bench run store (no {STORE_MARKER} marker, and it holds {shown}): "
                            "prune deletes nothing there; check --store-dir / $FML_BENCH_STORE")


def prune(store: RunStore, dry_run: bool = False) -> list[Path]:
    """Delete every record the current process would not read and every `.corrupt` file.

    Returns the paths removed (or that would be, with `dry_run`). Local stores only, and only a
    folder that is a store (`check_is_store`)."""
    if not isinstance(store.root, Path):
        raise FmlBenchError(f"prune works on a local store; remove objects of {store.root} with its own tools")
    check_is_store(store.root)
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
        engine_folders = [p for p in Path(store.root).glob("*-v*") if p.name.rpartition("-v")[0] in engine_names()]
        for folder in sorted(f for e in engine_folders for f in e.glob("*"))[::-1] + sorted(engine_folders):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    return removed
