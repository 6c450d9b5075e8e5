"""The tests of other Keras backends (tests/backends/), each in a process of its own: Keras
chooses its backend once per process, and this one runs TensorFlow."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fml_bench import engine
from fml_bench.errors import EngineBackendError

BACKEND_TESTS = Path(__file__).parent / "backends"


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_vectorised_engine_under(backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (pip install '.[{backend}]'; the dev extra has jax)")
    env = {**os.environ, "KERAS_BACKEND": backend, "FML_BENCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "pytest", str(BACKEND_TESTS), "-q", "-p", "no:cacheprovider",
                           "-p", "no:xdist", "-o", "addopts="], env=env, capture_output=True, text=True,
                          cwd=Path(__file__).parents[1], timeout=1200)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert " passed" in done.stdout.splitlines()[-1]


def test_the_vectorised_engine_refuses_tensorflow():
    with pytest.raises(EngineBackendError, match="vectorised engine runs under the Keras backend jax, torch"):
        engine.check_backend("vectorised")


def test_a_backend_without_the_tiers_engine_gets_one_that_batches_seeds(monkeypatch):
    from fml_bench import engine_registry

    for backend in ("jax", "torch"):
        monkeypatch.setattr(engine_registry, "keras_backend", lambda backend=backend: backend)
        assert engine_registry.default_engine("stacked") == "vectorised"
        assert engine_registry.default_engine("reference") == "reference"
    monkeypatch.setattr(engine_registry, "keras_backend", lambda: "tensorflow")
    assert engine_registry.default_engine("stacked") == "stacked"
