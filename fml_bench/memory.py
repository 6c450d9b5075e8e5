"""The memory this process holds, and how much of it a repeated job leaves behind: the probe
behind the tests that a finished stack gives its inputs and weights back (issue 19: a book-tier
run grew to 13.1 GB over twelve claims and was killed, where each claim alone needs under 5)."""

from __future__ import annotations

import gc
import importlib
import multiprocessing
from collections.abc import Callable
from pathlib import Path

STATUS = Path("/proc/self/status")


def resident_bytes() -> int | None:
    """This process's resident set (VmRSS), or None where /proc does not say (not Linux)."""
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def retained_bytes(job: Callable[[], object], rounds: int = 3, warmup: int = 2) -> int | None:
    """Resident bytes gained over `rounds` runs of `job` after `warmup` runs, with the garbage
    collected after each: tens of MB of allocator noise for a job that frees what it makes,
    `rounds` times its footprint for one that leaks it. The warm-up runs are left out (they load
    libraries, compile and fill the allocator's pools once; measured: +100 MB after the first
    run of a 100 MB stack, then flat within 60 MB). None where the resident set is unknown."""
    for _ in range(warmup):
        job()
    gc.collect()
    marks = [resident_bytes()]
    for _ in range(rounds):
        job()
        gc.collect()
        marks.append(resident_bytes())
    if marks[0] is None or marks[-1] is None:
        return None
    return marks[-1] - marks[0]


def _retained_by(job: str, rounds: int, warmup: int) -> int | None:
    module, _, name = job.partition(":")
    return retained_bytes(getattr(importlib.import_module(module), name), rounds, warmup)


def retained_in_fresh_process(job: str, rounds: int = 3, warmup: int = 2) -> int | None:
    """`retained_bytes` of the function `job` ("module:function") measured in a fresh process:
    in a long-lived one (a test session) other objects freed meanwhile can hide a leak (CI: a
    leaking keras step measured 'nothing kept' late in the test run)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_retained_by, (job, rounds, warmup))
