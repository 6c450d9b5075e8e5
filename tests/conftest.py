"""Shared fixtures of the unit tests: an isolated store, cache and reports folder per test."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("FML_BENCH_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("FML_BENCH_REPORTS", str(tmp_path / "reports"))
    if "FML_BENCH_CACHE" not in os.environ:
        monkeypatch.setenv("FML_BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path


def real_data_dir() -> Path | None:
    """The folder with the real MNIST idx files and aclImdb tarball, if this machine has it."""
    value = os.environ.get("FML_BENCH_DATA")
    for candidate in ([Path(value)] if value else []) + [SHARED_DATA]:
        if (candidate / "mnist" / "train-labels-idx1-ubyte.gz").is_file():
            return candidate
    return None


@pytest.fixture
def multi_hot_data(monkeypatch):
    """A small IMDB-like multi-hot problem fed to the seed-batching engines instead of real
    reviews (their exact-reproduction tests, under every backend)."""
    from fml_bench.engine import stacking

    rng = np.random.default_rng(0)
    x = (rng.random((300, 50)) < 0.1).astype(np.float32)
    y = (x[:, :5].sum(axis=1) > 0).astype(np.float32)
    monkeypatch.setattr(stacking, "prepare",
                        lambda spec, seed, sparse=False: (scipy.sparse.csr_matrix(x) if sparse else x, y))
    return x, y
