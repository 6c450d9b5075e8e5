"""Engines run an experiment spec for seeds and return run records.

`reference`: plain `model.fit` per seed, exactly the book. `stacked`: many seeds of one spec
in one TensorFlow graph (see `fml_bench.engine.stacked`). Both honour the same interface:
`run_seeds(spec, seeds) -> list[RunRecord]`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fml_bench.errors import UnknownNameError
from fml_bench.experiments import ExperimentSpec
from fml_bench.records import RunRecord

ENGINE_ENV = "FML_BENCH_ENGINE"
Engine = Callable[[ExperimentSpec, Sequence[int]], list[RunRecord]]


def get_engine(name: str) -> Engine:
    """The engine registered as `name` ("reference" or "stacked")."""
    if name == "reference":
        from fml_bench.engine.reference import run_seeds

        return run_seeds
    if name == "stacked":
        from fml_bench.engine.stacked import run_seeds

        return run_seeds
    raise UnknownNameError(f"unknown engine {name!r}; choose 'reference' or 'stacked'")
