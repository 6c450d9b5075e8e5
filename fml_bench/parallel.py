"""Test runs spread over pytest-xdist workers (`pytest -n auto`): how many workers a machine
holds, and each worker's share of its cores and memory.

Every worker is a whole TensorFlow process that trains its own stacks of seeds. Left alone, each
would take all the cores for every matmul (two workers on two cores: four compute threads
fighting for two) and the whole stack budget (two workers: twice the memory the budget allows).
So a worker gets the cores and the stack memory divided by the number of workers, and
`pytest -n auto` starts no more workers than the cores, nor than the memory holds at
`WORKER_MEMORY_BYTES` each (a 7 GB runner: two).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fml_bench.claims import Claim

#: pytest-xdist sets this in each worker's environment, before the worker reads its options.
WORKER_COUNT_ENV = "PYTEST_XDIST_WORKER_COUNT"
#: TensorFlow's compute threads per process (read when its CPU device is created, at the first op).
TF_THREADS_ENV = "TF_NUM_INTRAOP_THREADS"
#: The memory a worker may need: TensorFlow and its pools (about 1.5 GB after a few experiments),
#: the data, a stack at its share of the budget, and a reference model.fit beside it.
WORKER_MEMORY_BYTES = 3.5e9


def worker_count() -> int:
    """How many pytest-xdist workers share this machine (1 outside xdist, or when unreadable)."""
    try:
        return max(1, int(os.environ.get(WORKER_COUNT_ENV, "1")))
    except ValueError:
        return 1


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container or taskset narrows)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def workers_for(cores: int, memory_bytes: float | None) -> int:
    """The workers `pytest -n auto` starts: one a core, no more than the memory holds at
    `WORKER_MEMORY_BYTES` each, at least one."""
    by_memory = cores if memory_bytes is None else int(memory_bytes // WORKER_MEMORY_BYTES)
    return max(1, min(cores, by_memory))


def share_cores_among_workers() -> None:
    """In an xdist worker: TensorFlow's compute threads set to this worker's share of the cores
    (at least one), unless the user set them. Must run before TensorFlow's first operation."""
    workers = worker_count()
    if workers > 1:
        os.environ.setdefault(TF_THREADS_ENV, str(max(1, usable_cores() // workers)))


def store_group(claim: Claim, tier: str) -> str:
    """The pytest-xdist group (`--dist loadgroup`) of the tests that train `claim`'s runs: the
    claims on one dataset share experiments and seed blocks (imdb-smaller and imdb-larger both
    train imdb-16-16 at the same seeds; a knock-out reuses its claim's unchanged arms), so their
    tests run in one worker, one after another, and each run is trained once and then read from
    the store, never twice at the same time by two workers."""
    from fml_bench.experiments import get_spec

    datasets = {get_spec(name, tier).dataset for name in claim.experiments()}
    return "imdb-runs" if "imdb" in datasets else "mnist-runs"
