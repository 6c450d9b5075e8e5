"""Engines run an experiment spec for seeds and return run records.

`reference`: plain `model.fit` per seed, exactly the book. `stacked`: many seeds of one spec
in one TensorFlow graph (see `fml_bench.engine.stacked`). Both honour the same interface:
`run_seeds(spec, seeds) -> list[RunRecord]`.

The registry of engines (names, versions, backends, plug-ins) is data in
`fml_bench.engine_registry`; this package holds their code and what the runner needs to call it.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar

from fml_bench.engine_registry import KERAS_BACKEND_ENV, engine_info, engine_names, keras_backend
from fml_bench.errors import EngineBackendError
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


def check_backend(name: str) -> None:
    """Refuse to train on an engine that does not run under this process's Keras backend."""
    info = engine_info(name)
    backend = keras_backend()
    if backend not in info.backends:
        able = [e for e in engine_names() if backend in engine_info(e).backends]
        raise EngineBackendError(
            f"the {name} engine runs under the Keras backend {', '.join(info.backends)} only, and this process "
            f"uses {backend} (${KERAS_BACKEND_ENV}): choose --engine {' or '.join(able) or '?'}, or unset "
            f"{KERAS_BACKEND_ENV}"
        )


def seeds_per_call(name: str, spec: ExperimentSpec, missing: int) -> int:
    """How many of `missing` seeds the runner hands engine `name` at once: one for an engine
    that trains seed by seed; for one that batches seeds, all of them up to its own limit
    (its module's `max_seeds(spec)`, a memory budget)."""
    info = engine_info(name)
    if not info.batches_seeds:
        return 1
    limit = importlib.import_module(info.module).max_seeds(spec)
    return max(1, min(missing, limit))


def get_engine(name: str) -> Engine:
    """The `run_seeds` function of the engine registered as `name`."""
    return importlib.import_module(engine_info(name).module).run_seeds
