"""Engines run an experiment spec for seeds and return run records.

`reference`: plain `model.fit` per seed, exactly the book. `stacked`: many seeds of one spec
in one TensorFlow graph (see `fml_bench.engine.stacked`). Both honour the same interface:
`run_seeds(spec, seeds) -> list[RunRecord]`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar

from fml_bench.errors import UnknownNameError
from fml_bench.experiments import ExperimentSpec
from fml_bench.records import RunRecord

ENGINE_ENV = "FML_BENCH_ENGINE"
Engine = Callable[[ExperimentSpec, Sequence[int]], list[RunRecord]]


_epoch_listener: ContextVar[Callable[[int, int, dict], None] | None] = ContextVar("epoch_listener", default=None)


@contextlib.contextmanager
def epoch_listener(listener: Callable[[int, int, dict], None]) -> Iterator[None]:
    """Within the block, engines call listener(epoch, epochs, logs) after every epoch."""
    token = _epoch_listener.set(listener)
    try:
        yield
    finally:
        _epoch_listener.reset(token)


def report_epoch(epoch: int, epochs: int, logs: dict) -> None:
    """Called by engines at the end of each epoch (1-based `epoch`)."""
    listener = _epoch_listener.get()
    if listener is not None:
        listener(epoch, epochs, logs)


def get_engine(name: str) -> Engine:
    """The engine registered as `name` ("reference" or "stacked")."""
    if name == "reference":
        from fml_bench.engine.reference import run_seeds

        return run_seeds
    if name == "stacked":
        from fml_bench.engine.stacked import run_seeds

        return run_seeds
    raise UnknownNameError(f"unknown engine {name!r}; choose 'reference' or 'stacked'")
