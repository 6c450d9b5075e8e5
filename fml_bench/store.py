"""Run records on disk, one JSON file per (engine, spec hash, seed).

Writes are atomic (temporary file, fsync, rename), so an interrupted run leaves either a
whole record or none. Each file carries the sha256 of its payload; a record that fails to
parse or verify is reported, moved aside as `*.corrupt`, and treated as missing so that the
seed is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

from fml_bench.errors import CorruptRecordError
from fml_bench.experiments import ExperimentSpec
from fml_bench.records import RunRecord

log = logging.getLogger(__name__)
SCHEMA = 1
# Bumped when an engine's results change for the same spec and seed: old records stay on disk
# but are no longer read.
# reference 2: reshuffles every epoch; reference 3, stacked 2: penalty curve, test-split scores,
# majority class from the training labels.
ENGINE_VERSIONS = {"reference": 3, "stacked": 2}


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class RunStore:
    """A folder of run records keyed by engine, spec hash and seed."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, spec: ExperimentSpec, seed: int, engine: str) -> Path:
        folder = f"{engine}-v{ENGINE_VERSIONS.get(engine, 1)}"
        return self.root / folder / f"{spec.name}-{spec.content_hash()}" / f"seed-{seed}.json"

    def save(self, spec: ExperimentSpec, record: RunRecord) -> Path:
        """Write `record` atomically; returns its path."""
        target = self.path(spec, record.seed, record.engine)
        target.parent.mkdir(parents=True, exist_ok=True)
        payload = record.to_dict()
        blob = json.dumps({"schema": SCHEMA, "sha256": _digest(payload), "record": payload})
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def read(self, path: Path) -> RunRecord:
        """Read one record file; raise CorruptRecordError if it is damaged."""
        try:
            wrapper = json.loads(path.read_text())
            payload = wrapper["record"]
            if wrapper.get("sha256") != _digest(payload):
                raise CorruptRecordError(f"{path}: checksum mismatch")
            return RunRecord.from_dict(payload)
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise CorruptRecordError(f"{path}: unreadable record ({exc})") from exc

    def load(self, spec: ExperimentSpec, seed: int, engine: str) -> RunRecord | None:
        """The stored record, or None if absent or corrupt (a corrupt one is moved aside)."""
        path = self.path(spec, seed, engine)
        if not path.exists():
            return None
        try:
            return self.read(path)
        except CorruptRecordError as exc:
            aside = path.with_suffix(".corrupt")
            os.replace(path, aside)
            log.warning("%s; moved to %s, the seed will be recomputed", exc, aside.name)
            return None

    def records(self, spec: ExperimentSpec, engine: str) -> list[RunRecord]:
        """All intact stored records of `spec` under `engine`, by seed."""
        folder = self.path(spec, 0, engine).parent
        out = []
        for file in sorted(folder.glob("seed-*.json")):
            try:
                out.append(self.read(file))
            except CorruptRecordError as exc:
                log.warning("%s", exc)
        return sorted(out, key=lambda r: r.seed)
