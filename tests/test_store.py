"""The run store: atomic writes, corruption detection, and resuming without recomputation."""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import stat
import tempfile
from pathlib import Path

import pytest

from fml_bench import runner
from fml_bench.errors import StoreWriteError
from fml_bench.experiments import get_spec
from fml_bench.records import RunRecord
from fml_bench.store import RunStore

SPEC = get_spec("mnist-noise-channels", "fast")
TF_NOW = {"engine": "reference", "engine_version": "3", "tensorflow": "2.21.0", "keras": "3.15.1",
          "keras_backend": "tensorflow", "numpy": "2.1.3", "data": "mnist:aaaa"}


def FIXED(spec, engine):  # noqa: N802 - a constant fingerprint, so no dataset is loaded
    return {**TF_NOW, "engine": engine}


def fake_record(seed: int, engine: str = "reference") -> RunRecord:
    history = {k: [0.1 * seed, 0.2] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    return RunRecord(SPEC.name, SPEC.content_hash(), seed, engine, history, [0.5, 0.5], 1.0, {"tf": "x"}, {})


def test_round_trip(tmp_path):
    store = RunStore(tmp_path, fingerprint=FIXED)
    path = store.save(SPEC, fake_record(3))
    assert path.name == "seed-3.json" and SPEC.content_hash() in str(path)
    assert store.load(SPEC, 3, "reference") == dataclasses.replace(fake_record(3), fingerprint=FIXED(SPEC, "reference"))
    assert store.load(SPEC, 4, "reference") is None
    assert store.load(SPEC, 3, "stacked") is None  # engines keep separate records


def test_interrupted_write_leaves_no_partial_record(tmp_path, monkeypatch):
    store = RunStore(tmp_path, fingerprint=FIXED)
    store.save(SPEC, fake_record(1))

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        store.save(SPEC, fake_record(2))
    monkeypatch.undo()
    folder = store.path(SPEC, 0, "reference").parent
    assert sorted(p.name for p in folder.iterdir()) == ["fingerprint.json", "seed-1.json"]


@pytest.mark.parametrize("damage", ["truncate", "edit", "garbage"])
def test_corrupt_record_is_reported_moved_aside_and_recomputed(tmp_path, caplog, damage):
    store = RunStore(tmp_path, fingerprint=FIXED)
    path = store.save(SPEC, fake_record(0))
    text = path.read_text()
    if damage == "truncate":
        path.write_text(text[: len(text) // 2])
    elif damage == "edit":
        doc = json.loads(text)
        doc["record"]["history"]["val_accuracy"][0] = 0.99
        path.write_text(json.dumps(doc))
    else:
        path.write_bytes(b"\xff\xfe\x00")
    with caplog.at_level(logging.WARNING):
        assert store.load(SPEC, 0, "reference") is None
    assert "recomputed" in caplog.text
    assert path.with_suffix(".corrupt").exists() and not path.exists()


class FakeEngine:
    """Counts the seeds it trains; raises KeyboardInterrupt at `interrupt_at`."""

    def __init__(self, interrupt_at: int | None = None):
        self.trained: list[int] = []
        self.interrupt_at = interrupt_at

    def __call__(self, spec, seeds):
        out = []
        for seed in seeds:
            if seed == self.interrupt_at:
                raise KeyboardInterrupt
            self.trained.append(seed)
            out.append(fake_record(seed))
        return out


def test_interrupted_run_resumes_without_redoing_finished_seeds(tmp_path, monkeypatch):
    store = RunStore(tmp_path, fingerprint=FIXED)
    first = FakeEngine(interrupt_at=2)
    monkeypatch.setattr(runner, "get_engine", lambda name: first)
    with pytest.raises(KeyboardInterrupt):
        runner.run_experiment(SPEC, [0, 1, 2, 3], store)
    assert first.trained == [0, 1]
    second = FakeEngine()
    monkeypatch.setattr(runner, "get_engine", lambda name: second)
    events = []
    records = runner.run_experiment(SPEC, [0, 1, 2, 3], store, progress=lambda e, s, seed, r: events.append((e, seed)))
    assert second.trained == [2, 3]
    assert [r.seed for r in records] == [0, 1, 2, 3]
    assert ("cached", 0) in events and ("done", 3) in events


def test_records_of_another_tensorflow_are_not_reused_but_kept_and_listed(tmp_path, monkeypatch, caplog):
    # Reproduction from issue 10: records written under TF 2.16 / Keras 3.0 were reused under 2.21.
    old = {**TF_NOW, "tensorflow": "2.16.2", "keras": "3.3.3"}
    then = RunStore(tmp_path, fingerprint=lambda spec, engine: old)
    for seed in range(4):
        then.save(SPEC, fake_record(seed))
    now = RunStore(tmp_path, fingerprint=FIXED)
    engine = FakeEngine()
    monkeypatch.setattr(runner, "get_engine", lambda name: engine)
    with caplog.at_level(logging.WARNING):
        records = runner.run_experiment(SPEC, [0, 1, 2, 3], now)
    assert engine.trained == [0, 1, 2, 3]  # nothing reused
    assert all(r.fingerprint["tensorflow"] == "2.21.0" for r in records)
    assert "TF 2.16.2" in caplog.text and "not reused" in caplog.text
    assert [g.fingerprint["tensorflow"] for g in now.elsewhere(SPEC, "reference")] == ["2.16.2"]
    assert len(then.records(SPEC, "reference")) == 4  # the old records stay


def test_other_data_is_another_fingerprint(tmp_path):
    keras_npz = RunStore(tmp_path, fingerprint=lambda spec, engine: {**TF_NOW, "data": "imdb:1111"})
    keras_npz.save(SPEC, fake_record(0))
    converted = RunStore(tmp_path, fingerprint=lambda spec, engine: {**TF_NOW, "data": "imdb:2222"})
    assert converted.load(SPEC, 0, "reference") is None


@pytest.mark.parametrize("tamper", ["seed", "spec", "engine", "fingerprint"])
def test_a_record_copied_to_another_key_is_refused(tmp_path, caplog, tamper):
    # Reproduction: seed 3's file copied to seed 5's name was accepted (seed 3 counted twice).
    store = RunStore(tmp_path, fingerprint=FIXED)
    source = store.save(SPEC, fake_record(3))
    if tamper == "seed":
        target, load = store.path(SPEC, 5, "reference"), (SPEC, 5, "reference")
    elif tamper == "spec":
        other = get_spec("mnist-zero-channels", "fast")
        target, load = store.path(other, 3, "reference"), (other, 3, "reference")
    elif tamper == "engine":
        target, load = store.path(SPEC, 3, "stacked"), (SPEC, 3, "stacked")
    else:
        elsewhere = RunStore(tmp_path, fingerprint=lambda spec, engine: {**TF_NOW, "numpy": "1.26.4"})
        target, load = elsewhere.path(SPEC, 3, "reference"), (SPEC, 3, "reference")
        store = elsewhere
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source.read_text())
    with caplog.at_level(logging.WARNING):
        assert store.load(*load) is None
    assert "belongs" in caplog.text and target.with_suffix(".corrupt").exists()


def test_store_files_are_readable_by_the_group(tmp_path):
    old = os.umask(0o002)
    try:
        path = RunStore(tmp_path, fingerprint=FIXED).save(SPEC, fake_record(0))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o664  # mkstemp alone made 0600


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_a_read_only_store_serves_reads_and_refuses_writes_clearly(tmp_path):
    store = RunStore(tmp_path, fingerprint=FIXED)
    store.save(SPEC, fake_record(0))
    for folder in [tmp_path, *tmp_path.rglob("*")]:
        if folder.is_dir():
            folder.chmod(0o555)
    try:
        assert store.load(SPEC, 0, "reference").seed == 0
        with pytest.raises(StoreWriteError, match="--store-dir"):
            store.save(SPEC, fake_record(1))
    finally:
        for folder in [tmp_path, *tmp_path.rglob("*")]:
            if folder.is_dir():
                folder.chmod(0o755)


def test_a_write_refused_by_the_file_system_is_a_clear_error(tmp_path, monkeypatch):
    # The same path as the read-only store, for machines where tests run as root.
    store = RunStore(tmp_path, fingerprint=FIXED)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(StoreWriteError, match="cannot write to the run store"):
        store.save(SPEC, fake_record(1))


def _train_in_another_process(root: str, seeds: list[int], out: multiprocessing.Queue) -> None:
    import time

    engine_calls = []

    def slow_engine(spec, chunk):
        engine_calls.extend(chunk)
        time.sleep(0.5)  # hold the lock long enough for the other process to queue behind it
        return [fake_record(s) for s in chunk]

    runner.get_engine = lambda name: slow_engine
    runner.run_experiment(SPEC, seeds, RunStore(root, fingerprint=FIXED))
    out.put(engine_calls)


def test_two_processes_on_one_store_train_each_seed_once(tmp_path):
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_train_in_another_process, args=(str(tmp_path), [0, 1, 2], out)) for _ in range(2)]
    for p in procs:
        p.start()
    trained = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sorted(trained[0] + trained[1]) == [0, 1, 2]  # one process trained, the other read
    assert [r.seed for r in RunStore(tmp_path, fingerprint=FIXED).records(SPEC, "reference")] == [0, 1, 2]


def _train_while_the_other_trains(root: str, seeds: list[int], here, there, out: multiprocessing.Queue) -> None:
    def engine_that_waits_for_the_other(spec, chunk):
        here.set()
        out.put((chunk, there.wait(timeout=20)))  # True: the other process was training at the same time
        return [fake_record(s) for s in chunk]

    runner.get_engine = lambda name: engine_that_waits_for_the_other
    runner.run_experiment(SPEC, seeds, RunStore(root, fingerprint=FIXED), chunk_size=len(seeds))


def test_two_processes_train_other_seeds_of_one_experiment_at_the_same_time(tmp_path):
    # `fml-bench check`'s workers train blocks of one experiment side by side: the store locks
    # seeds, not experiments (with one lock per experiment the first waited the 20 s out alone)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    events = [ctx.Event(), ctx.Event()]
    procs = [ctx.Process(target=_train_while_the_other_trains,
                         args=(str(tmp_path), seeds, events[i], events[1 - i], out))
             for i, seeds in enumerate(([0, 1], [2, 3]))]
    for p in procs:
        p.start()
    seen = sorted(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert seen == [([0, 1], True), ([2, 3], True)]
    assert [r.seed for r in RunStore(tmp_path, fingerprint=FIXED).records(SPEC, "reference")] == [0, 1, 2, 3]


def test_store_lists_and_prunes_what_is_no_longer_read(tmp_path, capsys, monkeypatch):
    from fml_bench import cli, provenance, store_admin

    monkeypatch.setattr(provenance, "software", lambda: {k: TF_NOW[k] for k in ("tensorflow", "keras",
                                                                                "keras_backend", "numpy")})
    now = RunStore(tmp_path, fingerprint=FIXED)
    now.save(SPEC, fake_record(0))
    now.save(SPEC, fake_record(1)).with_suffix(".corrupt").write_text("damaged")
    RunStore(tmp_path, fingerprint=lambda s, e: {**TF_NOW, "tensorflow": "2.16.2"}).save(SPEC, fake_record(0))
    legacy = tmp_path / "reference-v2" / f"{SPEC.name}-{SPEC.content_hash()}"
    legacy.mkdir(parents=True)
    (legacy / "seed-0.json").write_text("{}")
    statuses = sorted(e.status for e in store_admin.inventory(now))
    assert statuses == ["before fingerprints", "current", "other environment"]
    assert cli.main(["store", "--store-dir", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    assert "TF 2.16.2" in listing and "before fingerprints" in listing
    assert cli.main(["store", "prune", "--dry-run", "--store-dir", str(tmp_path)]) == 0
    assert len(store_admin.inventory(now)) == 3  # a dry run removes nothing
    assert cli.main(["store", "prune", "--store-dir", str(tmp_path)]) == 1  # not confirmed: nothing removed
    assert len(store_admin.inventory(now)) == 3
    assert cli.main(["store", "prune", "--yes", "--store-dir", str(tmp_path)]) == 0
    (entry,) = store_admin.inventory(now)
    assert entry.status == "current" and entry.seeds == 2 and entry.corrupt == 0
    assert not legacy.exists()


def test_an_engine_change_retrains_only_the_experiments_it_touches(tmp_path, monkeypatch):
    # Issue 12: stacked v3 drew dropout masks per seed; v5 sums IMDB's first layer as bags.
    # Bumping the whole engine would have thrown away every stored record; only the experiments
    # a change touches change numbers.
    from fml_bench import provenance, store_admin
    from fml_bench.engine_registry import engine_version

    monkeypatch.setattr(provenance, "software", lambda: {k: TF_NOW[k] for k in ("tensorflow", "keras",
                                                                                "keras_backend", "numpy")})

    def versioned(spec, engine):
        return {**TF_NOW, "engine": engine, "engine_version": str(engine_version(engine, spec))}

    dropout = get_spec("imdb-16-16-dropout", "fast")
    plain = get_spec("mnist-96-96", "fast")
    assert engine_version("stacked", plain) == 2 and engine_version("stacked", dropout) == 6
    assert engine_version("stacked", get_spec("mnist-zero-channels", "fast")) == 7  # the zero columns left out
    store = RunStore(tmp_path, fingerprint=versioned)
    for spec in (plain, dropout):
        record = dataclasses.replace(fake_record(0, "stacked"), spec_name=spec.name, spec_hash=spec.content_hash())
        store.save(spec, record)
    assert "stacked-v2" in str(store.path(plain, 0, "stacked"))
    assert "stacked-v6" in str(store.path(dropout, 0, "stacked"))
    # the dropout experiment's records as stacked v2 filed them: still on disk, no longer read
    old = RunStore(tmp_path, fingerprint=lambda s, e: {**versioned(s, e), "engine_version": "2"})
    monkeypatch.setattr(RunStore, "_spec_root", lambda self, spec, engine: self.root / "stacked-v2" /
                        f"{spec.name}-{spec.content_hash()}")
    old.save(dropout, dataclasses.replace(fake_record(1, "stacked"), spec_name=dropout.name,
                                          spec_hash=dropout.content_hash()))
    monkeypatch.undo()
    monkeypatch.setattr(provenance, "software", lambda: {k: TF_NOW[k] for k in ("tensorflow", "keras",
                                                                                "keras_backend", "numpy")})
    assert store.load(dropout, 1, "stacked") is None
    assert store.load(plain, 0, "stacked") is not None
    status = {(e.engine, e.spec.rpartition("-")[0]): e.status for e in store_admin.inventory(store)}
    assert status == {("stacked-v2", "mnist-96-96"): "current", ("stacked-v6", "imdb-16-16-dropout"): "current",
                      ("stacked-v2", "imdb-16-16-dropout"): "old engine version"}


def test_engine_changes_must_be_numbered_in_order():
    from fml_bench.engine_registry import EngineChange, EngineInfo

    with pytest.raises(ValueError, match="increasing order"):
        EngineInfo("toy", (EngineChange(2, "b"), EngineChange(1, "a")), False, "m", "s")


def test_prune_deletes_nothing_in_a_folder_that_is_not_a_store(tmp_path, capsys):
    """Issue 21: prune deleted results-v2/run1/seed-1.json and removed the empty my-venv folder."""
    from fml_bench import cli

    (tmp_path / "results-v2" / "run1").mkdir(parents=True)
    (tmp_path / "results-v2" / "run1" / "seed-1.json").write_text("x")
    (tmp_path / "my-venv").mkdir()
    assert cli.main(["store", "prune", "--yes", "--store-dir", str(tmp_path)]) == 2
    assert "not an fml-bench run store" in capsys.readouterr().err
    assert (tmp_path / "results-v2" / "run1" / "seed-1.json").exists() and (tmp_path / "my-venv").is_dir()


def test_a_group_with_a_damaged_fingerprint_is_kept_by_prune(tmp_path, monkeypatch):
    """Issue 21: a truncated fingerprint.json made the group 'other environment' and prune removed
    records that check still reused."""
    from fml_bench import cli, provenance, store_admin
    from fml_bench.store import FINGERPRINT_FILE, STORE_MARKER

    monkeypatch.setattr(provenance, "software", lambda: {k: TF_NOW[k] for k in ("tensorflow", "keras",
                                                                                "keras_backend", "numpy")})
    store = RunStore(tmp_path, fingerprint=FIXED)
    path = Path(store.save(SPEC, fake_record(0)))
    assert (tmp_path / STORE_MARKER).is_file()
    fp = path.parent / FINGERPRINT_FILE
    fp.write_text(fp.read_text()[:20])
    (entry,) = store_admin.inventory(store)
    assert entry.status == store_admin.DAMAGED and not entry.prunable
    assert cli.main(["store", "prune", "--yes", "--store-dir", str(tmp_path)]) == 0
    assert path.is_file() and store.load(SPEC, 0, "reference") is not None


def test_the_device_is_in_the_fingerprint_so_a_gpu_record_is_not_reused_on_a_cpu(tmp_path, monkeypatch):
    """Issue 21: tensorflow and tensorflow-cpu report the same version, so a record made on a GPU
    was reused on a CPU through a shared store."""
    from fml_bench import provenance, store_admin

    assert "device" in provenance.FIELDS
    assert provenance.device().startswith(("CPU: ", "GPU: "))
    software = {k: TF_NOW[k] for k in ("tensorflow", "keras", "keras_backend", "numpy")}
    monkeypatch.setattr(provenance, "software", lambda: {**software, "device": "CPU: AMD EPYC"})
    on_gpu = RunStore(tmp_path, fingerprint=lambda s, e: {**TF_NOW, "device": "GPU: NVIDIA A100"})
    on_gpu.save(SPEC, fake_record(0))
    on_cpu = RunStore(tmp_path, fingerprint=lambda s, e: {**TF_NOW, "device": "CPU: AMD EPYC"})
    assert on_cpu.load(SPEC, 0, "reference") is None
    (entry,) = store_admin.inventory(on_cpu)
    assert entry.status == "other environment" and "GPU: NVIDIA A100" in entry.made_under


def _record_of(spec, seed: int) -> RunRecord:
    return dataclasses.replace(fake_record(seed), spec_name=spec.name, spec_hash=spec.content_hash())


def test_a_run_stored_under_another_name_serves_a_spec_of_the_same_content(tmp_path, monkeypatch):
    # noise-channels' knock-out replaces the noise by zeros: that arm is mnist-zero-channels, trained once
    from fml_bench.claims import get_claim

    store = RunStore(tmp_path, fingerprint=FIXED)
    zeros = get_spec("mnist-zero-channels", "fast")
    knocked_out = get_claim("noise-channels").knockout.apply(SPEC)
    assert knocked_out.name == SPEC.name and knocked_out.content_hash() == zeros.content_hash()
    store.save(zeros, _record_of(zeros, 0))
    trained = []

    def engine(spec, seeds):
        trained.extend(seeds)
        return [_record_of(spec, seed) for seed in seeds]

    monkeypatch.setattr(runner, "get_engine", lambda name: engine)
    records = runner.run_experiment(knocked_out, [0, 1], store)
    assert trained == [1]
    assert [(r.spec_name, r.spec_hash, r.seed) for r in records] == [(SPEC.name, zeros.content_hash(), 0),
                                                                      (SPEC.name, zeros.content_hash(), 1)]
    assert records[0].history == fake_record(0).history
    assert store.load(SPEC, 0, "reference") is None  # the noise-channel experiment itself is another run
    assert not store.path(knocked_out, 0, "reference").exists()  # served where it lies, not copied


def test_a_run_that_scored_the_test_split_serves_one_that_does_not_and_not_the_reverse(tmp_path):
    store = RunStore(tmp_path, fingerprint=FIXED)
    scored = get_spec("imdb-16-16", "fast")
    unscored = scored.with_(name="imdb-512-512-knocked", evaluate_test=False, test_size=None)
    assert scored.evaluate_test and scored.training_hash() == unscored.training_hash()
    store.save(scored, _record_of(scored, 0))
    assert store.load(unscored, 0, "reference").spec_name == "imdb-512-512-knocked"
    store.save(unscored, _record_of(unscored, 1))
    assert store.load(scored, 1, "reference") is None  # it lacks the test split's scores
    assert store.load(unscored, 2, "reference") is None


def test_a_corrupt_twin_is_not_served(tmp_path):
    store = RunStore(tmp_path, fingerprint=FIXED)
    zeros = get_spec("mnist-zero-channels", "fast")
    path = store.save(zeros, _record_of(zeros, 0))
    path.write_text(path.read_text()[:40])
    assert store.load(zeros.with_(name="another-name"), 0, "reference") is None


def test_twins_share_their_locks(tmp_path):
    store = RunStore(tmp_path, fingerprint=FIXED)
    zeros = get_spec("mnist-zero-channels", "fast")
    with store.lock(zeros, "reference", [3]):
        pass
    with store.lock(zeros.with_(name="another-name"), "reference", [3]):
        pass
    assert [p.name for p in tmp_path.rglob(".lock-*")] == [".lock-3"]


def _hold_the_lock(root: str, seeds: list[int], holding, release) -> None:
    with RunStore(root, fingerprint=FIXED).lock(SPEC, "reference", seeds):
        holding.set()
        release.wait(timeout=30)


def test_a_lock_another_process_holds_is_seen_without_waiting(tmp_path):
    store = RunStore(tmp_path, fingerprint=FIXED)
    assert not store.held_elsewhere(SPEC, "reference", [1, 2])  # no lock files yet
    ctx = multiprocessing.get_context("fork")
    holding, release = ctx.Event(), ctx.Event()
    other = ctx.Process(target=_hold_the_lock, args=(str(tmp_path), [2, 3], holding, release))
    other.start()
    try:
        assert holding.wait(timeout=30)
        assert store.held_elsewhere(SPEC, "reference", [1, 2])
        assert not store.held_elsewhere(SPEC, "reference", [0, 1])
        assert not store.held_elsewhere(SPEC, "stacked", [2])  # another engine's seeds are other runs
    finally:
        release.set()
        other.join(timeout=30)
    assert not store.held_elsewhere(SPEC, "reference", [1, 2, 3])  # released with the process's files
    with store.lock(SPEC, "reference", [2]):  # the probe took nothing with it
        pass


def test_a_claim_trains_the_experiments_nobody_else_is_training_first():
    from fml_bench.suite import train_free_first

    specs = [get_spec(name, "fast") for name in ("mnist-zero-channels", "mnist-logreg", "mnist-96-96")]
    trained: list[str] = []
    elsewhere = {"mnist-zero-channels"}  # another worker trains these seeds until this one has trained a spec

    def train(spec):
        trained.append(spec.name)
        elsewhere.clear()
        return [fake_record(0)]

    runs = train_free_first(specs, train, lambda spec: spec.name in elsewhere)
    assert trained == ["mnist-logreg", "mnist-zero-channels", "mnist-96-96"]
    assert list(runs) == [s.name for s in specs]  # the claim's own order
    trained.clear()
    train_free_first(specs, train, lambda spec: True)  # everything busy: waits in order, never spins
    assert trained == [s.name for s in specs]
