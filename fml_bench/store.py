"""Run records on disk, one JSON file per (engine, spec, fingerprint, seed).

Layout: `<root>/<engine>-v<version>/<spec name>-<spec hash>/<fingerprint key>/seed-<n>.json`,
with the fingerprint itself (`fml_bench.provenance`: TensorFlow, Keras, backend, numpy, data
digest, engine version) in `fingerprint.json` beside the records. A process looks only in the
folder of its own fingerprint, so records made under another TensorFlow or on other data are
never reused; they stay on disk and `fml-bench store` lists them.

Writes are atomic (temporary file, fsync, rename), so an interrupted run leaves either a
whole record or none, and files are created readable by the group (the umask decides), so a
store can be shared. Each file carries the sha256 of its payload. A record that fails to parse
or verify, or that is not the record its path promises (another spec, seed, engine or
fingerprint: a file copied by hand), is reported, moved aside as `*.corrupt`, and treated as
missing so that the seed is recomputed. A read-only store serves reads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fml_bench import provenance
from fml_bench.engine import engine_version
from fml_bench.errors import CorruptRecordError, MisplacedRecordError, StoreWriteError
from fml_bench.experiments import ExperimentSpec
from fml_bench.provenance import Fingerprint, FingerprintFn
from fml_bench.records import RunRecord

log = logging.getLogger(__name__)
SCHEMA = 2  # 2: records keyed and stamped by their fingerprint
FINGERPRINT_FILE = "fingerprint.json"


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _write_atomically(target: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _file_mode())  # mkstemp makes 0600: a shared store must be readable
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class StoredGroup:
    """The records of one spec under one engine version and fingerprint (one folder)."""

    folder: Path
    engine: str
    engine_version: int
    spec_folder: str
    fingerprint: Fingerprint
    seeds: tuple[int, ...]
    corrupt: int
    current: bool


class RunStore:
    """A folder of run records keyed by engine, spec, fingerprint and seed.

    `fingerprint(spec, engine)` gives the current process's fingerprint; tests inject a
    constant one so that no dataset is loaded.
    """

    def __init__(self, root: Path | str, fingerprint: FingerprintFn | None = None):
        self.root = Path(root)
        self._fingerprint = fingerprint or provenance.fingerprint

    def fingerprint(self, spec: ExperimentSpec, engine: str) -> Fingerprint:
        """What a record of `spec` made now on `engine` would be keyed by."""
        return self._fingerprint(spec, engine)

    def folder(self, spec: ExperimentSpec, engine: str) -> Path:
        """The folder of `spec`'s records under `engine` and the current fingerprint."""
        return self._spec_root(spec, engine) / provenance.key(self.fingerprint(spec, engine))

    def _spec_root(self, spec: ExperimentSpec, engine: str) -> Path:
        return self.root / f"{engine}-v{engine_version(engine)}" / f"{spec.name}-{spec.content_hash()}"

    def path(self, spec: ExperimentSpec, seed: int, engine: str) -> Path:
        return self.folder(spec, engine) / f"seed-{seed}.json"

    def save(self, spec: ExperimentSpec, record: RunRecord) -> Path:
        """Stamp `record` with the current fingerprint and write it atomically; returns its path."""
        if record.spec_hash != spec.content_hash() or record.spec_name != spec.name:
            raise ValueError(f"record of {record.spec_name}-{record.spec_hash} saved as "
                             f"{spec.name}-{spec.content_hash()}")
        fingerprint = self.fingerprint(spec, record.engine)
        record = dataclasses.replace(record, fingerprint=fingerprint)
        target = self.path(spec, record.seed, record.engine)
        payload = record.to_dict()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if not (target.parent / FINGERPRINT_FILE).exists():
                _write_atomically(target.parent / FINGERPRINT_FILE, json.dumps(fingerprint, indent=1, sort_keys=True))
            _write_atomically(target, json.dumps({"schema": SCHEMA, "sha256": _digest(payload), "record": payload}))
        except PermissionError as exc:
            raise StoreWriteError(
                f"cannot write to the run store {self.root} ({exc.strerror}): give it write permission or "
                "choose another with --store-dir / $FML_BENCH_STORE (a read-only store can still serve reports)"
            ) from exc
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

    def _verified(self, path: Path, spec: ExperimentSpec, seed: int, engine: str) -> RunRecord:
        record = self.read(path)
        expected = {"spec": f"{spec.name}-{spec.content_hash()}", "seed": seed, "engine": engine,
                    "fingerprint": self.fingerprint(spec, engine)}
        found = {"spec": f"{record.spec_name}-{record.spec_hash}", "seed": record.seed, "engine": record.engine,
                 "fingerprint": record.fingerprint}
        wrong = [k for k in expected if expected[k] != found[k]]
        if wrong:
            raise MisplacedRecordError(
                f"{path}: holds the record of " + ", ".join(f"{k} {found[k]!r}" for k in wrong)
                + " where " + ", ".join(f"{k} {expected[k]!r}" for k in wrong) + " belongs"
            )
        return record

    def _move_aside(self, path: Path, exc: CorruptRecordError) -> None:
        aside = path.with_suffix(".corrupt")
        try:
            os.replace(path, aside)
            log.warning("%s; moved to %s, the seed will be recomputed", exc, aside.name)
        except OSError:
            log.warning("%s; the seed will be recomputed (the store is read-only: the file stays)", exc)

    def load(self, spec: ExperimentSpec, seed: int, engine: str) -> RunRecord | None:
        """The stored record, or None if absent, corrupt or misplaced (such a file is moved aside)."""
        path = self.path(spec, seed, engine)
        if not path.exists():
            return None
        try:
            return self._verified(path, spec, seed, engine)
        except CorruptRecordError as exc:
            self._move_aside(path, exc)
            return None

    def records(self, spec: ExperimentSpec, engine: str) -> list[RunRecord]:
        """All intact stored records of `spec` under `engine` and the current fingerprint, by seed."""
        out = []
        for file in sorted(self.folder(spec, engine).glob("seed-*.json")):
            try:
                out.append(self.read(file))
            except CorruptRecordError as exc:
                log.warning("%s", exc)
        return sorted(out, key=lambda r: r.seed)

    def elsewhere(self, spec: ExperimentSpec, engine: str) -> list[StoredGroup]:
        """Groups of `spec`'s records under `engine` made under other fingerprints (not reused)."""
        here = self.folder(spec, engine)
        return [g for g in self.groups() if g.folder.parent.name == here.parent.name and g.folder != here
                and g.engine == engine]

    def groups(self) -> list[StoredGroup]:
        """Every folder of records in the store, current or not (for `fml-bench store`)."""
        out = []
        for fp_file in sorted(self.root.glob(f"*-v*/*/*/{FINGERPRINT_FILE}")):
            folder = fp_file.parent
            engine, _, version = folder.parent.parent.name.rpartition("-v")
            try:
                fingerprint = json.loads(fp_file.read_text())
            except (OSError, json.JSONDecodeError):
                fingerprint = {}
            seeds = tuple(sorted(int(f.stem.split("-", 1)[1]) for f in folder.glob("seed-*.json")
                                 if f.stem.split("-", 1)[1].isdigit()))
            current = (engine in _known_engines() and version == str(engine_version(engine))
                       and fingerprint.get("engine_version") == version and _same_software(fingerprint))
            out.append(StoredGroup(folder, engine, int(version) if version.isdigit() else -1, folder.parent.name,
                                   fingerprint, seeds, len(list(folder.glob("*.corrupt"))), current))
        return out

    @contextlib.contextmanager
    def lock(self, spec: ExperimentSpec, engine: str) -> Iterator[None]:
        """Hold an exclusive lock on `spec`'s records (across processes on this file system).

        The runner trains missing seeds inside it and looks again after acquiring it, so two
        processes on one store train each (spec, seed) once. A read-only store is not locked."""
        folder = self.folder(spec, engine)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle = open(folder / ".lock", "a")  # noqa: SIM115 - held for the block
        except PermissionError:
            yield
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


def _known_engines() -> set[str]:
    from fml_bench.engine import ENGINES

    return set(ENGINES)


def _same_software(fingerprint: Fingerprint) -> bool:
    """True when `fingerprint`'s software matches this process (the data is not loaded to check)."""
    try:
        now = provenance.software()
    except ImportError:  # pragma: no cover - TensorFlow absent
        return False
    return all(fingerprint.get(k) == v for k, v in now.items())
