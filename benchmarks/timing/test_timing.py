"""Timing benchmarks (pytest-benchmark): training time per epoch of each book model, the
data recipes, and evaluation. Run apart from the claims:

    pytest benchmarks/timing -m timing --benchmark-autosave
    pytest benchmarks/timing -m timing --benchmark-compare --benchmark-compare-fail=median:20%

Shapes are the book's; the rows are the fast tier's (see ROWS) so that a nightly run takes
minutes. Each benchmark records samples/s in extra_info. Nothing here asserts a time.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from fml_bench import recipes
from fml_bench.engine.reference import compile_model
from fml_bench.experiments import get_spec
from fml_bench.seeding import seed_everything

pytestmark = pytest.mark.timing
ROWS = {"mnist": 4000, "imdb": 2400}
MODELS = ["mnist-noise-channels", "mnist-zero-channels", "mnist-rmsprop-lr1e-2", "mnist-logreg", "mnist-96-96",
          "imdb-16-16", "imdb-4-4", "imdb-512-512", "imdb-16-16-l2", "imdb-16-16-dropout"]


def synthetic_inputs(spec, rows: int):
    """Book-shaped inputs: MNIST-like pixels (1,568 features with channels) or IMDB-like
    multi-hot rows with 1.3% ones; timing depends on shapes and sparsity, not on the values."""
    rng = np.random.default_rng(0)
    if spec.dataset.startswith("imdb"):
        x = (rng.random((rows, spec.num_words)) < 0.013).astype(np.float32)
        return x, rng.integers(0, 2, rows).astype(np.float32)
    features = 1568 if "channels" in spec.recipe else 784
    return rng.random((rows, features), dtype=np.float32), rng.integers(0, 10, rows)


@pytest.mark.parametrize("experiment", MODELS)
def test_fit_one_epoch(benchmark, experiment):
    spec = get_spec(experiment, "book")
    rows = ROWS["imdb" if spec.dataset == "imdb" else "mnist"]
    x, y = synthetic_inputs(spec, rows)
    seed_everything(0)
    model = compile_model(spec)
    model.fit(x, y, epochs=1, batch_size=spec.batch_size, verbose=0)  # build and trace once
    benchmark.group = f"fit-epoch:{spec.dataset}"
    benchmark.extra_info.update(rows=rows, batch_size=spec.batch_size, model=spec.model)
    benchmark.pedantic(model.fit, args=(x, y), kwargs=dict(epochs=1, batch_size=spec.batch_size, verbose=0),
                       rounds=3, iterations=1)
    benchmark.extra_info["samples_per_s"] = rows / benchmark.stats.stats.median


@pytest.mark.parametrize("experiment", ["mnist-96-96", "imdb-16-16"])
def test_evaluate(benchmark, experiment):
    spec = get_spec(experiment, "book")
    x, y = synthetic_inputs(spec, 2000)
    model = compile_model(spec)
    model.evaluate(x, y, batch_size=spec.batch_size, verbose=0)
    benchmark.group = "evaluate"
    benchmark.pedantic(model.evaluate, args=(x, y), kwargs=dict(batch_size=spec.batch_size, verbose=0),
                       rounds=5, iterations=1)


def imdb_like_sequences(n: int, seed: int = 0) -> list[list[int]]:
    """Review-like index lists: keras IMDB's mean length (239 tokens), Zipf-ranked words."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(5.2, 0.7, n).astype(int), 10, 2500)
    return [list(np.minimum(rng.zipf(1.2, size=k), 9999)) for k in lengths]


@pytest.mark.parametrize("sparse", [False, True], ids=["dense-float32", "sparse-csr"])
def test_imdb_multi_hot_25000_reviews(benchmark, sparse):
    sequences = imdb_like_sequences(25_000)
    benchmark.group = "recipe:imdb-multi-hot"
    result = benchmark.pedantic(recipes.multi_hot, args=(sequences, 10000), kwargs=dict(sparse=sparse),
                                rounds=3, iterations=1)
    tracemalloc.start()
    recipes.multi_hot(sequences, 10000, sparse=sparse)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    benchmark.extra_info.update(peak_mib=round(peak / 2**20, 1), notebook_float64_mib=25_000 * 10_000 * 8 / 2**20)
    assert result.shape == (25_000, 10_000)


def test_noise_channels_60000(benchmark):
    x = np.random.default_rng(0).random((60_000, 784), dtype=np.float32)
    benchmark.group = "recipe:mnist-channels"
    out = benchmark.pedantic(recipes.add_noise_channels, args=(x, 0), rounds=3, iterations=1)
    assert out.shape == (60_000, 1568)
