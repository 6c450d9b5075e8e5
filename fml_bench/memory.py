"""The memory this machine lets this process use (its cgroups' limits), the memory the process
holds, and how much of it a repeated job leaves behind: the probe behind the tests that a
finished stack gives its inputs and weights back (issue 19: a book-tier run grew to 13.1 GB over
twelve claims and was killed, where each claim alone needs under 5). No TensorFlow here: the
worker counts of `pytest -n auto`, `fml-bench check` and `fml-bench plans` read the machine's
memory without importing it."""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import os
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


CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def cgroup_limit_files(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> list[Path]:
    """The files that may hold this process's memory limit: those of its own memory cgroup and
    of every ancestor (from /proc/self/cgroup; a host without cgroup namespaces, such as a
    systemd slice or a job scheduler, shows the process its place in the whole tree), under cgroup
    v2 (`memory.max`, at the root or at unified/) and v1 (`memory/memory.limit_in_bytes`)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    places: list[tuple[Path, str, str]] = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":
            places += [(root, path, "memory.max"), (root / "unified", path, "memory.max")]
        elif "memory" in controllers.split(","):
            places.append((root / "memory", path, "memory.limit_in_bytes"))
    if not places:
        places = [(root, "/", "memory.max"), (root / "memory", "/", "memory.limit_in_bytes")]
    files = []
    for base, path, name in places:
        parts = [p for p in path.split("/") if p]
        files += [base.joinpath(*parts[:depth], name) for depth in range(len(parts), -1, -1)]
    return files


def machine_memory_bytes() -> float | None:
    """The memory this process may use: the physical memory, or the smallest limit of its memory
    cgroup and their ancestors when that is smaller (a container or a job sees the host's
    physical memory in sysconf)."""
    try:
        memory = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None
    for path in cgroup_limit_files():
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit():  # "max" means no limit
            memory = min(memory, float(text))
    return memory
