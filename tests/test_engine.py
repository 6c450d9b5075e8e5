"""The reference engine on a tiny budget: seeding, histories, protocols, the environment."""

from __future__ import annotations

import numpy as np
import pytest

from fml_bench.engine import get_engine
from fml_bench.engine.reference import run_one
from fml_bench.errors import UnknownNameError
from fml_bench.experiments import get_spec
from fml_bench.protocol import majority_baseline, validation_folds

TINY = get_spec("mnist-logreg", "fast").with_(name="tiny", train_size=300, epochs=2)


@pytest.fixture(scope="module")
def two_runs_seed_0():
    return run_one(TINY, 0), run_one(TINY, 0)


def test_same_seed_gives_the_same_history(two_runs_seed_0):
    a, b = two_runs_seed_0
    assert a.history == b.history


def test_different_seeds_differ(two_runs_seed_0):
    assert run_one(TINY, 1).history["loss"] != two_runs_seed_0[0].history["loss"]


def test_record_has_history_timings_and_environment(two_runs_seed_0):
    r = two_runs_seed_0[0]
    assert set(r.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "penalty"}
    assert all(len(v) == 2 for v in r.history.values())
    assert len(r.epoch_seconds) == 2 and r.wall_seconds >= sum(r.epoch_seconds)
    assert {"tensorflow", "keras", "numpy", "cpu", "intra_op_threads", "op_determinism"} <= set(r.env)
    assert r.spec_hash == TINY.content_hash() and r.engine == "reference"
    assert 0 < r.extra["majority_baseline"] < 0.3


def test_kfold_trains_one_model_per_fold():
    spec = TINY.with_(protocol="kfold", folds=3, epochs=1)
    r = run_one(spec, 0)
    assert r.extra["models_trained"] == 3 and 0 < r.extra["estimate_val_accuracy"] <= 1


def test_folds_partition_the_data_and_follow_the_seed():
    spec = TINY.with_(protocol="iterated-kfold", folds=4, repeats=3)
    folds = validation_folds(100, spec, seed=0)
    assert len(folds) == 12
    for r in range(3):
        np.testing.assert_array_equal(np.sort(np.concatenate(folds[4 * r: 4 * r + 4])), np.arange(100))
    assert not np.array_equal(folds[0], folds[4])  # each repetition reshuffles
    assert not np.array_equal(folds[0], validation_folds(100, spec, seed=1)[0])
    holdout = validation_folds(100, TINY.with_(protocol="shuffled-holdout"), seed=0)
    assert len(holdout) == 1 and len(holdout[0]) == 20


def test_early_stopping_records_the_restored_model():
    spec = get_spec("imdb-16-16-early-stopping", "fast")
    assert spec.early_stopping_patience == 2


def test_majority_baseline_comes_from_the_training_labels():
    # the training majority is class 0; the validation rows hold one 0 in four
    assert majority_baseline(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1])) == 0.25


def test_unknown_engine():
    with pytest.raises(UnknownNameError, match="reference"):
        get_engine("warp")


def test_the_stacked_engine_refuses_other_keras_backends_with_a_way_out(monkeypatch):
    from fml_bench import engine
    from fml_bench.errors import EngineBackendError

    monkeypatch.setattr(engine, "keras_backend", lambda: "jax")
    engine.check_backend("reference")  # the book's model.fit runs under every backend
    with pytest.raises(EngineBackendError, match="--engine reference"):
        engine.check_backend("stacked")


def test_keras_backend_option_is_scoped_to_the_call(monkeypatch):
    import os

    from fml_bench import cli

    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    seen = {}
    monkeypatch.setattr(cli, "cmd_show", lambda args: seen.update(backend=os.environ.get("KERAS_BACKEND")) or 0)
    assert cli.main(["show", "mnist-logreg", "--keras-backend", "jax"]) == 0
    assert seen == {"backend": "jax"} and "KERAS_BACKEND" not in os.environ


def test_every_numpy_stream_comes_from_seeding_and_keeps_its_numbers():
    # Issue 11: randomness was seeded in five places. The streams moved into fml_bench.seeding
    # with the tags they had, so stored records stay what a rerun computes.
    import numpy as np

    from fml_bench.seeding import stream

    assert np.array_equal(stream(3, "folds").permutation(20), np.random.default_rng([3, 521]).permutation(20))
    assert np.array_equal(stream(3, "batch-order").permutation(20), np.random.default_rng([3, 0x5EED]).permutation(20))
    noise_tag = int.from_bytes(b"noise".ljust(8, b"\0"), "little")
    assert np.array_equal(stream(3, "noise").random(4), np.random.default_rng([3, noise_tag]).random(4))
    assert not np.array_equal(stream(3, "folds").random(4), stream(4, "folds").random(4))


class _FakeJaxConfig:
    def __init__(self, cache_dir=None):
        self.jax_compilation_cache_dir = cache_dir
        self.updates: dict = {}

    def update(self, name, value):
        self.updates[name] = value
        setattr(self, name, value)


@pytest.mark.parametrize("backend, user_dir", [("jax", None), ("jax", "/mine"), ("tensorflow", None)])
def test_jax_keeps_compiled_programs_in_the_cache_unless_the_user_chose(monkeypatch, tmp_path, backend, user_dir):
    import sys
    import types

    import keras

    from fml_bench.engine import reference

    config = _FakeJaxConfig(user_dir)
    monkeypatch.setitem(sys.modules, "jax", types.SimpleNamespace(config=config))
    monkeypatch.setattr(keras.backend, "backend", lambda: backend)
    monkeypatch.setenv("FML_BENCH_CACHE", str(tmp_path))
    reference.keep_compiled_programs()
    if backend == "jax" and user_dir is None:
        assert config.updates == {
            "jax_compilation_cache_dir": str(tmp_path / "jax-compiled"),
            "jax_persistent_cache_min_compile_time_secs": 0.0,
        }
    else:
        assert config.updates == {}
