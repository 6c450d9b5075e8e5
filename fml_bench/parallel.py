"""Work spread over processes on one machine: pytest-xdist workers (`pytest -n auto`) and
`fml-bench check`'s worker processes (`fml_bench.local_workers`): how many workers a machine
holds, and each worker's share of its cores and memory.

Every worker is a whole TensorFlow process that trains its own stacks of seeds. Left alone, each
would take all the cores for every matmul (two workers on two cores: four compute threads
fighting for two) and the whole stack budget (two workers: twice the memory the budget allows).
So a worker gets the cores and the stack memory divided by the number of workers, and
`pytest -n auto` starts no more workers than the cores, nor than the memory holds: the stacks of
all workers together take the stack share (40%), each worker needs `WORKER_BASE_BYTES` beside its
stacks, and `SHARED_BYTES` stay for the controlling process and the libraries' code.

Measured (2-core AMD EPYC Zen 3, the README's test command with two workers inside a 7 GB memory
cgroup, 1.4 GB stack budget each): each worker's resident memory reached 3.1-3.2 GB, the
controller 0.4 GB, and the cgroup had no room left for TensorFlow's code pages: they were evicted
and read back from disk at 600 MB/s, the workers at 3% CPU, stalled. A 7 GB machine runs one
worker; one with 24 GB and two cores, two.
"""

from __future__ import annotations

import os

#: pytest-xdist sets this in each worker's environment, before the worker reads its options.
WORKER_COUNT_ENV = "PYTEST_XDIST_WORKER_COUNT"
#: `fml-bench check` sets this in the environment of its worker processes.
CHECK_WORKER_COUNT_ENV = "FML_BENCH_WORKER_COUNT"
#: The user's own `-n auto` count, which xdist honours (and so does fml_bench).
AUTO_WORKERS_ENV = "PYTEST_XDIST_AUTO_NUM_WORKERS"
#: TensorFlow's compute threads per process (read when its CPU device is created, at the first op).
TF_THREADS_ENV = "TF_NUM_INTRAOP_THREADS"
#: Resident memory a worker needs beside its stacks: TensorFlow, its pools, the data, a reference
#: model.fit (measured: 3.2 GB at a 1.4 GB stack budget).
WORKER_BASE_BYTES = 1.8e9
#: Memory that must stay free of workers: the controlling pytest process (0.4 GB) and the pages of
#: the libraries' code that every worker runs.
SHARED_BYTES = 1.4e9
#: The share of the machine's memory all stacks together may take (`stacking.memory_budget_bytes`).
STACK_SHARE = 0.4


def worker_count() -> int:
    """How many worker processes share this machine: pytest-xdist's or `fml-bench check`'s (1 in
    a process of its own, or when unreadable)."""
    try:
        return max(1, int(os.environ.get(WORKER_COUNT_ENV) or os.environ.get(CHECK_WORKER_COUNT_ENV) or "1"))
    except ValueError:
        return 1


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container or taskset narrows)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def workers_for(cores: int, memory_bytes: float | None) -> int:
    """The workers `pytest -n auto` starts: one a core, no more than fit the memory beside the
    stacks' share and `SHARED_BYTES` at `WORKER_BASE_BYTES` each, at least one."""
    if memory_bytes is None:
        return max(1, cores)
    by_memory = int((memory_bytes * (1 - STACK_SHARE) - SHARED_BYTES) // WORKER_BASE_BYTES)
    return max(1, min(cores, by_memory))


def share_cores_among_workers() -> None:
    """In a worker process: TensorFlow's compute threads set to this worker's share of the cores
    (at least one), unless the user set them. Must run before TensorFlow's first operation."""
    workers = worker_count()
    if workers > 1:
        os.environ.setdefault(TF_THREADS_ENV, str(max(1, usable_cores() // workers)))

