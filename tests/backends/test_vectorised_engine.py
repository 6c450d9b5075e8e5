"""The vectorised engine (jax.vmap over Keras' stateless API) reproduces keras' own `model.fit`
under jax exactly where the randomness is shared: one seed, the reference engine's initial
weights, no shuffling; dropout masks come from each seed's own seed generator, so they match
too (under torch they come from torch's global generator: see TorchVectorisedTrainer). Run
with KERAS_BACKEND=jax or torch (tests/test_keras_backends.py does)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fml_bench.engine import stacking, vectorised
from fml_bench.experiments import get_spec
from fml_bench.protocol import compile_model
from fml_bench.seeding import seed_everything
from tests.engine_cases import CASES, keras_fit_without_shuffle

KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


@pytest.mark.parametrize("case", CASES)
def test_one_seed_reproduces_keras_fit(case):
    spec = CASES[case]
    expected = keras_fit_without_shuffle(spec, 3)
    got = vectorised.run_seeds(spec, [3], shuffle=False)[0].history
    for key in KEYS:
        np.testing.assert_allclose(got[key], expected[key], rtol=2e-4, atol=2e-5, err_msg=key)


TORCH_DROPOUT = ("under torch, keras draws dropout masks from torch's global generator, which torch.func.vmap "
                 "draws from in its own order: equal in distribution, not mask for mask")


@pytest.mark.parametrize("experiment", ["imdb-16-16-l2", "imdb-16-16-l1-l2", "imdb-16-16-dropout"])
def test_binary_model_reproduces_keras_fit(multi_hot_data, experiment):
    """L2 on both hidden layers through keras' own regularization losses, or Dropout(0.5) with
    each step's mask drawn from the model's own seed generator, as `model.fit` draws it (jax)."""
    if experiment.endswith("dropout") and keras.backend.backend() == "torch":
        pytest.skip(TORCH_DROPOUT)
    x, y = multi_hot_data
    spec = get_spec(experiment, "fast").with_(name="t4", train_size=None, epochs=3, batch_size=32)
    seed_everything(5)
    expected = compile_model(spec).fit(x, y, epochs=3, batch_size=32, validation_split=0.4, shuffle=False,
                                       verbose=0).history
    got = vectorised.run_seeds(spec, [5], shuffle=False)[0]
    for key in KEYS:
        np.testing.assert_allclose(got.history[key], expected[key], rtol=2e-4, atol=2e-5, err_msg=key)
    assert got.engine == "vectorised" and got.env["keras_backend"] == keras.backend.backend()


def test_a_seeds_run_does_not_depend_on_its_stack_mates(multi_hot_data):
    spec = get_spec("imdb-16-16-dropout", "fast").with_(name="t5", epochs=2, batch_size=32)
    together = vectorised.run_seeds(spec, [0, 1, 2])
    alone = vectorised.run_seeds(spec, [1])[0].history
    assert together[0].history["loss"] != together[1].history["loss"]
    assert vectorised.run_seeds(spec, [1])[0].history == alone  # deterministic
    for key in KEYS:
        np.testing.assert_allclose(alone[key], together[1].history[key], rtol=1e-5, err_msg=key)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the bag route is torch's (vectorised_bags.py)")
@pytest.mark.parametrize("experiment", ["imdb-16-16", "imdb-16-16-dropout"])
def test_under_torch_multi_hot_rows_reach_the_first_layer_as_bags(multi_hot_data, monkeypatch, experiment):
    """The bag sums are the dense route's product and kernel gradient (to rounding), and a
    seed's run does not depend on the seeds that share its stack. A dropout model draws its
    masks from torch's global generator in the same order on both routes, so it matches too."""
    from fml_bench.engine import vectorised_bags

    x, y = multi_hot_data
    monkeypatch.setattr(stacking, "prepare_test", lambda spec, sparse=False: (x[:100], y[:100]))
    sums = []
    bag_sum = vectorised_bags.bag_sum
    monkeypatch.setattr(vectorised_bags, "bag_sum", lambda table, bags: sums.append(1) or bag_sum(table, bags))
    spec = get_spec(experiment, "fast").with_(name="t8", train_size=None, epochs=2, batch_size=32)
    as_bags = vectorised.run_seeds(spec, [0, 1, 2])
    assert sums
    alone = vectorised.run_seeds(spec, [1])[0].history
    monkeypatch.setattr(vectorised, "uses_bags", lambda spec: False)
    dense = vectorised.run_seeds(spec, [0, 1, 2])
    for got, expected in zip(as_bags, dense):
        for key in KEYS:
            np.testing.assert_allclose(got.history[key], expected.history[key], rtol=1e-4, atol=1e-5, err_msg=key)
    for key in KEYS:
        np.testing.assert_allclose(alone[key], as_bags[1].history[key], rtol=1e-5, err_msg=key)


def test_kfold_slots_match_the_protocol_and_their_stack_mates_do_not_matter(monkeypatch):
    rng = np.random.default_rng(0)
    x, y = rng.random((103, 784)).astype(np.float32), rng.integers(0, 10, 103)  # folds 26/26/26/25
    monkeypatch.setattr(stacking, "prepare", lambda spec, seed, sparse=False: (x, y))
    spec = get_spec("kfold-4", "fast").with_(name="t6", train_size=None, epochs=2)
    records = vectorised.run_seeds(spec, [0, 1])
    assert all(r.extra["models_trained"] == 4 for r in records)
    assert [r.env["stacks"] for r in records] == ["2", "2"]
    alone = vectorised.run_seeds(spec, [1])[0]
    np.testing.assert_allclose(alone.history["val_loss"], records[1].history["val_loss"], rtol=1e-5)


def test_early_stopping_scores_the_restored_model_on_the_test_split(multi_hot_data, monkeypatch):
    x, y = multi_hot_data
    monkeypatch.setattr(stacking, "prepare_test", lambda spec, sparse=False: (x[:100], y[:100]))
    spec = get_spec("imdb-16-16-early-stopping", "fast").with_(name="t7", train_size=None, epochs=6,
                                                              batch_size=32)
    record = vectorised.run_seeds(spec, [0])[0]
    assert {"test_loss", "test_accuracy", "restored_val_loss"} <= set(record.extra)
    assert len(record.history["loss"]) <= 6


def test_the_backend_runs_the_vectorised_engine_by_default():
    from fml_bench.engine_registry import default_engine

    assert default_engine("stacked") == "vectorised"
    assert default_engine("reference") == "reference"


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch.compile: the torch backend's steps")
def test_a_step_that_does_not_compile_runs_eagerly_with_a_warning(monkeypatch):
    import torch

    def fails_to_compile(*args):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(torch, "compile", lambda step, **options: fails_to_compile)
    step = vectorised.compiled_torch_step(lambda x: x + 1)
    with pytest.warns(RuntimeWarning, match="torch.compile failed .*runs this stack eagerly"):
        assert step(torch.ones(2)).tolist() == [2.0, 2.0]
    assert step(torch.zeros(1)).tolist() == [1.0]  # eager from then on, without compiling again


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch.compile: the torch backend's steps")
def test_fml_bench_torch_compile_0_keeps_the_step_eager(monkeypatch):
    def step(x):
        return x

    monkeypatch.setenv(vectorised.TORCH_COMPILE_VARIABLE, "0")
    assert vectorised.compiled_torch_step(step) is step
    monkeypatch.setenv(vectorised.TORCH_COMPILE_VARIABLE, "1")
    assert isinstance(vectorised.compiled_torch_step(step), vectorised.CompiledOrEager)
