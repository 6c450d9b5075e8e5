"""Run records on disk, one JSON file per (engine, spec, fingerprint, seed).

Layout: `<root>/<engine>-v<version>/<spec name>-<spec hash>/<fingerprint key>/seed-<n>.json`
(`<version>`: the engine's last change that touches the spec, `EngineInfo.record_version`),
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath

from fml_bench import atomic, provenance
from fml_bench.engine_registry import engine_version
from fml_bench.errors import CorruptRecordError, MisplacedRecordError, StoreWriteError, os_error_line
from fml_bench.experiments import ExperimentSpec
from fml_bench.provenance import Fingerprint, FingerprintFn
from fml_bench.records import RunRecord

log = logging.getLogger(__name__)
SCHEMA = 2  # 2: records keyed and stamped by their fingerprint
FINGERPRINT_FILE = "fingerprint.json"
STORE_MARKER = "FML_BENCH_STORE"  # written at a store's root with its first record: `prune` acts only where it is
S3_ENDPOINT_ENV = "FML_BENCH_S3_ENDPOINT"


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def write_atomically(target: Path, text: str) -> None:
    """Write `text` to `target` so that a reader sees the old file or the whole new one, never part."""
    atomic.write_text(target, text)


@dataclass(frozen=True)
class StoredGroup:
    """The records of one spec under one engine version and fingerprint (one folder)."""

    folder: PurePath
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
        self.root: PurePath = Path(root)
        self._fingerprint = fingerprint or provenance.fingerprint

    def fingerprint(self, spec: ExperimentSpec, engine: str) -> Fingerprint:
        """What a record of `spec` made now on `engine` would be keyed by."""
        return self._fingerprint(spec, engine)

    def folder(self, spec: ExperimentSpec, engine: str) -> PurePath:
        """The folder of `spec`'s records under `engine` and the current fingerprint."""
        return self._spec_root(spec, engine) / provenance.key(self.fingerprint(spec, engine))

    def _spec_root(self, spec: ExperimentSpec, engine: str) -> PurePath:
        return self.root / f"{engine}-v{engine_version(engine, spec)}" / f"{spec.name}-{spec.content_hash()}"

    def path(self, spec: ExperimentSpec, seed: int, engine: str) -> PurePath:
        return self.folder(spec, engine) / f"seed-{seed}.json"

    def save(self, spec: ExperimentSpec, record: RunRecord) -> PurePath:
        """Stamp `record` with the current fingerprint and write it atomically; returns its path."""
        if record.spec_hash != spec.content_hash() or record.spec_name != spec.name:
            raise ValueError(f"record of {record.spec_name}-{record.spec_hash} saved as "
                             f"{spec.name}-{spec.content_hash()}")
        fingerprint = self.fingerprint(spec, record.engine)
        record = dataclasses.replace(record, fingerprint=fingerprint)
        target = self.path(spec, record.seed, record.engine)
        payload = record.to_dict()
        try:
            self._mkdir(target.parent)
            if not self._exists(self.root / STORE_MARKER):
                self._write(self.root / STORE_MARKER, json.dumps({"store": "fml-bench", "layout": 1}) + "\n")
            if not self._exists(target.parent / FINGERPRINT_FILE):
                self._write(target.parent / FINGERPRINT_FILE, json.dumps(fingerprint, indent=1, sort_keys=True))
            self._write(target, json.dumps({"schema": SCHEMA, "sha256": _digest(payload), "record": payload}))
        except OSError as exc:
            raise StoreWriteError(
                f"cannot write to the run store {self.root}: {os_error_line(exc)}; the seeds saved before stay, "
                "and a rerun continues from them (--store-dir / $FML_BENCH_STORE choose another store; a read-only "
                "store can still serve reports)"
            ) from exc
        return target

    def check_writable(self) -> None:
        """A StoreWriteError now, before any training, if records could not be saved here."""
        if not isinstance(self.root, Path):
            return
        try:
            atomic.probe_writable(Path(self.root))
        except OSError as exc:
            raise StoreWriteError(f"cannot write to the run store {self.root}: {os_error_line(exc)} "
                                  "(--store-dir / $FML_BENCH_STORE choose another)") from exc

    def read(self, path: PurePath) -> RunRecord:
        """Read one record file; raise CorruptRecordError if it is damaged."""
        try:
            wrapper = json.loads(self._read(path))
            payload = wrapper["record"]
            if wrapper.get("sha256") != _digest(payload):
                raise CorruptRecordError(f"{path}: checksum mismatch")
            return RunRecord.from_dict(payload)
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError, FileNotFoundError) as exc:
            raise CorruptRecordError(f"{path}: unreadable record ({exc})") from exc

    def _verified(self, path: PurePath, spec: ExperimentSpec, seed: int, engine: str) -> RunRecord:
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

    def _move_aside(self, path: PurePath, exc: CorruptRecordError) -> None:
        aside = path.with_suffix(".corrupt")
        try:
            self._move(path, aside)
            log.warning("%s; moved to %s, the seed will be recomputed", exc, aside.name)
        except OSError:
            log.warning("%s; the seed will be recomputed (the store is read-only: the file stays)", exc)

    def load(self, spec: ExperimentSpec, seed: int, engine: str) -> RunRecord | None:
        """The stored record, or None if absent, corrupt or misplaced (such a file is moved aside).

        A seed missing from the spec's own folder is looked for under the other names of the
        same run (`ExperimentSpec.serving_variants`, same fingerprint): the record found is
        returned under this spec's name and hash and stays where it is."""
        path = self.path(spec, seed, engine)
        if self._exists(path):
            try:
                return self._verified(path, spec, seed, engine)
            except CorruptRecordError as exc:
                self._move_aside(path, exc)
        return self._record_of_a_twin(spec, seed, engine)

    def _record_of_a_twin(self, spec: ExperimentSpec, seed: int, engine: str) -> RunRecord | None:
        own = self.folder(spec, engine)
        engine_root = own.parent.parent
        spec_folders = self._subfolders(engine_root)  # one listing, not a recursive glob (an S3 store)
        for variant in spec.serving_variants():
            suffix = f"-{variant.content_hash()}"
            for folder in (f for f in spec_folders if f.endswith(suffix)):
                path = engine_root / folder / own.name / f"seed-{seed}.json"
                if path.parent == own or not self._exists(path):
                    continue
                named = variant.with_(name=folder.removesuffix(suffix))
                try:
                    record = self._verified(path, named, seed, engine)
                except CorruptRecordError:  # its own experiment's next load moves it aside
                    continue
                log.debug("%s seed %d: the record of %s serves", spec.name, seed, named.name)
                return dataclasses.replace(record, spec_name=spec.name, spec_hash=spec.content_hash())
        return None

    def records(self, spec: ExperimentSpec, engine: str) -> list[RunRecord]:
        """All intact stored records of `spec` under `engine` and the current fingerprint, by seed."""
        out = []
        for file in self._glob(self.folder(spec, engine), "seed-*.json"):
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
        for fp_file in self._glob(self.root, f"*-v*/*/*/{FINGERPRINT_FILE}"):
            folder = fp_file.parent
            engine, _, version = folder.parent.parent.name.rpartition("-v")
            try:
                fingerprint = json.loads(self._read(fp_file))
            except (OSError, json.JSONDecodeError):
                fingerprint = {}
            seeds = tuple(sorted(int(f.stem.split("-", 1)[1]) for f in self._glob(folder, "seed-*.json")
                                 if f.stem.split("-", 1)[1].isdigit()))
            current = (engine_version_read(engine, folder.parent.name, version)
                       and fingerprint.get("engine_version") == version and _same_software(fingerprint))
            out.append(StoredGroup(folder, engine, int(version) if version.isdigit() else -1, folder.parent.name,
                                   fingerprint, seeds, len(self._glob(folder, "*.corrupt")), current))
        return out

    # File-system operations: a local folder here; `RemoteRunStore` does them through fsspec.
    def _exists(self, path: PurePath) -> bool:
        return Path(path).exists()

    def _read(self, path: PurePath) -> str:
        return Path(path).read_text()

    def _write(self, path: PurePath, text: str) -> None:
        write_atomically(Path(path), text)

    def _mkdir(self, path: PurePath) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)

    def _move(self, source: PurePath, target: PurePath) -> None:
        os.replace(source, target)

    def _glob(self, folder: PurePath, pattern: str) -> list[PurePath]:
        return sorted(Path(folder).glob(pattern))

    def _subfolders(self, folder: PurePath) -> list[str]:
        """The names of the folders directly in `folder` (none if it does not exist)."""
        return sorted(p.name for p in Path(folder).iterdir() if p.is_dir()) if Path(folder).is_dir() else []

    @contextlib.contextmanager
    def lock(self, spec: ExperimentSpec, engine: str, seeds: Sequence[int]) -> Iterator[None]:
        """Hold an exclusive lock on each of `spec`'s `seeds` (across processes on this file system).

        The runner trains missing seeds inside it and looks again after acquiring it, so two
        processes on one store train each (spec, seed) once; processes that train other seeds of
        the same experiment (`fml-bench check`'s worker processes, shards) do not wait for each
        other. Locks are taken in seed order, so two processes cannot each hold what the other
        waits for. The locks belong to the training, not the name (`ExperimentSpec.training_hash`,
        in `<engine folder>/.locks/`): a process about to train a spec under one name waits for one
        training the same runs under another, and then reuses them (`load`). A read-only store is
        not locked."""
        folder = self._lock_folder(spec, engine)
        with contextlib.ExitStack() as held:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                handles = [held.enter_context(open(folder / f".lock-{seed}", "a")) for seed in sorted(set(seeds))]
            except PermissionError:
                handles = []
            for handle in handles:
                fcntl.flock(handle, fcntl.LOCK_EX)  # released when its file closes
            yield

    def held_elsewhere(self, spec: ExperimentSpec, engine: str, seeds: Sequence[int]) -> bool:
        """Whether another process holds the lock of one of `spec`'s `seeds` now, that is, is
        training them. A probe that waits for nothing: a caller with other experiments to train
        trains those first instead of waiting (`suite.train_free_first`)."""
        folder = self._lock_folder(spec, engine)
        for seed in sorted(set(seeds)):
            try:
                handle = open(folder / f".lock-{seed}", "rb")
            except OSError:  # no lock file: nobody has trained or is training this seed here
                continue
            with handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when the file closes
                except BlockingIOError:
                    return True
        return False

    def _lock_folder(self, spec: ExperimentSpec, engine: str) -> Path:
        own = self.folder(spec, engine)
        return Path(own.parent.parent) / ".locks" / f"{spec.training_hash()}-{own.name}"


def engine_version_read(engine: str, spec_folder: str, version: str) -> bool:
    """Whether this process reads `engine`'s records of the spec folder `<name>-<hash>` filed
    under `version`: the version must be live, and for a registered experiment the one its
    records are filed under now (`EngineInfo.record_version`, by the experiment's model and
    protocol, which its tiers and knock-outs share)."""
    from fml_bench.engine_registry import ENGINES
    from fml_bench.experiments import book_specs

    info = ENGINES.get(engine)
    if info is None or not version.isdigit() or int(version) not in info.live_versions():
        return False
    spec = book_specs().get(spec_folder.rpartition("-")[0])
    return spec is None or info.record_version(spec) == int(version)


def _same_software(fingerprint: Fingerprint) -> bool:
    """True when `fingerprint`'s software matches this process (the data is not loaded to check)."""
    try:
        now = provenance.software()
    except ImportError:  # pragma: no cover - TensorFlow absent
        return False
    return all(fingerprint.get(k) == v for k, v in now.items())


class RemoteRunStore(RunStore):
    """The same store at an fsspec URL (`s3://bucket/prefix`, `gs://...`, `memory://...`).

    Records are whole objects written in one PUT, so a reader sees a whole record or none;
    checksums, fingerprints and the misplaced-record check are the same as on disk. There is
    no cross-machine lock: two machines that train the same (experiment, seed) at once both
    write it, and the last whole record stays (shards never overlap, so sharded runs do not).
    `storage_options` go to fsspec (for S3: `client_kwargs={"endpoint_url": ...}`, credentials).
    """

    def __init__(self, url: str, fingerprint: FingerprintFn | None = None, **storage_options):
        import fsspec

        protocol, _, rest = url.partition("://")
        self.url = url.rstrip("/")
        self.fs = fsspec.filesystem(protocol, **storage_options)
        super().__init__(Path("."), fingerprint)
        self.root = PurePosixPath(self.fs._strip_protocol(self.url))

    def _exists(self, path: PurePath) -> bool:
        self.fs.invalidate_cache(str(path.parent))  # another machine may have written it since
        return self.fs.exists(str(path))

    def _read(self, path: PurePath) -> str:
        return self.fs.cat_file(str(path)).decode()

    def _write(self, path: PurePath, text: str) -> None:
        self.fs.pipe_file(str(path), text.encode())

    def _mkdir(self, path: PurePath) -> None:
        pass  # object stores have no folders; a key's prefixes exist with it

    def _move(self, source: PurePath, target: PurePath) -> None:
        self.fs.mv(str(source), str(target))

    def _glob(self, folder: PurePath, pattern: str) -> list[PurePath]:
        self.fs.invalidate_cache()
        return sorted(PurePosixPath(p) for p in self.fs.glob(f"{folder}/{pattern}"))

    def _subfolders(self, folder: PurePath) -> list[str]:
        self.fs.invalidate_cache(str(folder))
        try:
            entries = self.fs.ls(str(folder), detail=True)
        except FileNotFoundError:
            return []
        return sorted(PurePosixPath(e["name"]).name for e in entries if e.get("type") == "directory")

    @contextlib.contextmanager
    def lock(self, spec: ExperimentSpec, engine: str, seeds: Sequence[int]) -> Iterator[None]:
        yield

    def held_elsewhere(self, spec: ExperimentSpec, engine: str, seeds: Sequence[int]) -> bool:
        return False  # no locks here (see the class doc)


def open_store(location: str | Path, fingerprint: FingerprintFn | None = None) -> RunStore:
    """A store at a local folder or an fsspec URL (`s3://...`: needs `pip install fml-bench[s3]`).

    For S3-compatible servers other than AWS, `$FML_BENCH_S3_ENDPOINT` gives the endpoint URL."""
    text = str(location)
    if "://" not in text or text.startswith("file://"):
        return RunStore(Path(text.removeprefix("file://")), fingerprint)
    options = {}
    endpoint = os.environ.get(S3_ENDPOINT_ENV)
    if text.startswith("s3://") and endpoint:
        options["client_kwargs"] = {"endpoint_url": endpoint}
    try:
        return RemoteRunStore(text, fingerprint, **options)
    except ImportError as exc:
        raise StoreWriteError(f"the store {text} needs fsspec and its driver ({exc.name}): "
                              "pip install 'fml-bench[s3]' (or the fsspec driver for that URL)") from exc
