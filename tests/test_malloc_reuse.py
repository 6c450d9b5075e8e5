"""Under torch the vectorised engine asks glibc's malloc to keep freed large blocks
(fml_bench/malloc_reuse.py): a step's large tensors then come back without page faults. Each
case runs in a fresh process (malloc's settings are the process's)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fml_bench import malloc_reuse

PROBE = """
import numpy as np
from fml_bench import malloc_reuse

def resident():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) * 1024

state = malloc_reuse.keep_freed_blocks()
before = resident()
np.ones(64 * 2**20, np.uint8)  # 64 MB, freed at once
print(state, resident() - before)
"""


def kept_bytes_in_fresh_process(value: str | None) -> tuple[str, int]:
    child_env = {k: v for k, v in os.environ.items() if k != malloc_reuse.VARIABLE}
    if value is not None:
        child_env[malloc_reuse.VARIABLE] = value
    done = subprocess.run([sys.executable, "-c", PROBE], env=child_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    state, kept = done.stdout.split()[-2:]
    return state, int(kept)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_freed_large_block_stays_with_the_process_unless_the_user_says_0():
    """Kept, the next step's tensor of that size reuses its pages: no mmap, no page faults."""
    state, kept = kept_bytes_in_fresh_process(None)
    default_state, default = kept_bytes_in_fresh_process("0")
    assert (state, default_state) == ("reuse", "default")
    assert kept > 48 * 2**20  # the 64 MB block is still resident after its free
    assert default < 16 * 2**20  # glibc unmapped it
