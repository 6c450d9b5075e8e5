"""The run store: atomic writes, corruption detection, and resuming without recomputation."""

from __future__ import annotations

import json
import logging
import os

import pytest

from fml_bench import runner
from fml_bench.experiments import get_spec
from fml_bench.records import RunRecord
from fml_bench.store import RunStore

SPEC = get_spec("mnist-noise-channels", "fast")


def fake_record(seed: int, engine: str = "reference") -> RunRecord:
    history = {k: [0.1 * seed, 0.2] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    return RunRecord(SPEC.name, SPEC.content_hash(), seed, engine, history, [0.5, 0.5], 1.0, {"tf": "x"}, {})


def test_round_trip(tmp_path):
    store = RunStore(tmp_path)
    path = store.save(SPEC, fake_record(3))
    assert path.name == "seed-3.json" and SPEC.content_hash() in str(path)
    assert store.load(SPEC, 3, "reference") == fake_record(3)
    assert store.load(SPEC, 4, "reference") is None
    assert store.load(SPEC, 3, "stacked") is None  # engines keep separate records


def test_interrupted_write_leaves_no_partial_record(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    store.save(SPEC, fake_record(1))

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        store.save(SPEC, fake_record(2))
    monkeypatch.undo()
    folder = store.path(SPEC, 0, "reference").parent
    assert sorted(p.name for p in folder.iterdir()) == ["seed-1.json"]


@pytest.mark.parametrize("damage", ["truncate", "edit", "garbage"])
def test_corrupt_record_is_reported_moved_aside_and_recomputed(tmp_path, caplog, damage):
    store = RunStore(tmp_path)
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
    store = RunStore(tmp_path)
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
