"""glibc's malloc told to keep freed large blocks for reuse (the vectorised engine under torch).

torch's CPU tensors come from malloc, and glibc serves every block above its mmap threshold
(at most 32 MB) with a fresh mmap and unmaps it on free. The torch trainer allocates the same
large tensors every step (imdb-512-512's first-layer gradient: 20 MB a seed), so each step
page-faulted them back in: fast-tier imdb-512-512 at 8 seeds under torch, on a 2-core AMD EPYC
Zen 3 with one thread, 0.88-0.95 s per epoch and seed and 4.4 million minor page faults by
default, 0.34-0.36 s and 0.66 million with mmap off and the heap kept (peak memory 2.37 against
2.43 GB; one run each way, another process on the other core). The arithmetic is the same.
TensorFlow has its own pool for this (tf_allocator.py); torch on the CPU has none.

`keep_freed_blocks` sets, through `mallopt`: no mmap for large blocks (M_MMAP_MAX 0), so they
come from the heap; the heap's top not given back below 2 GB (M_TRIM_THRESHOLD); 256 MB more
asked of the kernel at a time (M_TOP_PAD). `FML_BENCH_MALLOC_REUSE=0` leaves malloc alone;
anything but glibc is left alone too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

VARIABLE = "FML_BENCH_MALLOC_REUSE"
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4
SETTINGS = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2**31 - 1), (M_TOP_PAD, 2**28))

_state = "default"


def keep_freed_blocks() -> str:
    """Ask glibc's malloc to keep freed large blocks (see the module doc), once per process;
    returns what this process's malloc does now: "reuse", "default" (the user said 0) or
    "not glibc"."""
    global _state
    if _state != "default" or os.environ.get(VARIABLE, "1") == "0":
        return _state
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        _state = "not glibc"
        return _state
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if all(mallopt(option, value) == 1 for option, value in SETTINGS):
        _state = "reuse"
    return _state


def malloc_state() -> str:
    """What this process's malloc does with freed large blocks (what a run records)."""
    return _state
