"""`fml-bench check` on all of this machine's cores: the suite's training in worker processes.

One process trains one stack at a time, and a small model's stack keeps about one core busy
(TensorFlow's threads help a 512-unit matmul, not a 16-unit one). So `check` starts worker
processes, as many as `parallel.workers_for` says the cores and the memory hold, each with its
share of the cores and of the stack budget (`parallel.CHECK_WORKER_COUNT_ENV`), and hands them
the shards' (experiment, seed-block) units, longest first, one at a time as each worker frees
up, look by look (`shards.train_by_looks`): what the Ray executor does on a cluster. Every unit
trains through the store, which saves each seed as it finishes and locks seeds, not
experiments, so two workers train two blocks of one experiment side by side.

The workers only fill the store: the verdicts, the report and anything a failed unit left
untrained then come from the ordinary check in the main process, which reads the stored seeds
(a unit that failed, for example on a damaged dataset file, is trained there again and its
claim reports the error as a sequential run does). A seed's records are the same whichever
process trains it, up to floating-point rounding that depends on its stack's size.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from fml_bench import parallel
from fml_bench.claims import Claim
from fml_bench.errors import MissingRunsError
from fml_bench.shards import WorkUnit, train_by_looks, train_unit
from fml_bench.suite import SuiteConfig

#: OpenMP's threads (torch's compute threads), shared among the workers as TensorFlow's are.
OMP_THREADS_ENV = "OMP_NUM_THREADS"


def worker_environment(workers: int) -> dict[str, str]:
    """What a worker process's environment adds: the worker count (which divides the stack
    budget) and its share of the cores for TensorFlow and OpenMP, unless the user set them."""
    share = str(max(1, parallel.usable_cores() // workers))
    env = {parallel.CHECK_WORKER_COUNT_ENV: str(workers)}
    for name in (parallel.TF_THREADS_ENV, OMP_THREADS_ENV):
        if name not in os.environ:
            env[name] = share
    return env


def _start_worker(env: dict[str, str]) -> None:
    """In a fresh worker process, before TensorFlow's first operation: its environment; Ctrl-C
    is the main process's to handle (it stops the workers)."""
    os.environ.update(env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _train_unit(store_location: str, engine: str, unit: WorkUnit) -> tuple[str, float, str | None]:
    """In a worker: `shards.train_unit`; (the unit's name, seconds, an error or None)."""
    start = time.perf_counter()
    try:
        return unit.name, train_unit(store_location, unit, engine), None
    except Exception as exc:  # the main process trains the unit again and reports the error there
        return unit.name, time.perf_counter() - start, f"{type(exc).__name__}: {exc}"


def run_on_workers(claims: Sequence[Claim], config: SuiteConfig, store_location: str | Path, workers: int,
                   say: Callable[[str], None] = print) -> None:
    """Train every unit `claims` need in `workers` processes, look by look, into the store. A unit
    that fails, or a worker that dies (killed for memory), leaves its seeds to the main process."""
    executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),  # nothing forked
                                   initializer=_start_worker, initargs=(worker_environment(workers),))
    train = functools.partial(_train_unit, str(store_location), config.engine)

    def train_units(units: list[WorkUnit]) -> Iterator[tuple[str, float]]:
        pending = [executor.submit(train, unit) for unit in sorted(units, key=lambda u: (-u.cost, u.name))]
        for future in as_completed(pending):
            name, seconds, error = future.result()
            if error is not None:
                say(f"workers: {name} failed after {seconds:.0f}s ({error}); the main process trains it again")
                continue
            yield name, seconds

    try:
        train_by_looks(claims, config, train_units, say, f"{workers} workers", shards=workers)
    except (MissingRunsError, BrokenProcessPool) as exc:  # a later look is undecidable here, or a worker died
        say(f"workers: stopped ({type(exc).__name__}: {exc}); the main process trains the rest")
    except BaseException:  # Ctrl-C, SIGTERM: stop the workers now; the seeds stored so far stay
        for process in list(getattr(executor, "_processes", {}).values()):
            process.terminate()
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    executor.shutdown(wait=True, cancel_futures=True)
