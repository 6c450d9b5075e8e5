"""TensorFlow's CPU memory allocator: the BFC allocator (a pool that keeps freed blocks for
reuse) instead of TensorFlow's default, which hands every tensor to malloc and back.

Why: the stacked engine allocates the same large tensors every step (imdb-512-512's first
layer: 20 MB a seed for the kernel, its gradient and the optimizer's temporaries). glibc serves
blocks that large with fresh mmaps and returns them on free, so each step page-faults its
buffers back in. On a 2-core AMD EPYC (Zen 3, KVM) that cost a third of the CPU time: fast-tier
imdb-512-512 at 8 seeds took 0.975 s per epoch and seed with 12 million minor page faults,
0.434 s with 0.5 million under the BFC allocator, peak memory 2.66 GB against 2.35 GB
(`benchmarks/engine_speed.py --tier fast --experiments imdb-512-512 --seeds 8 --epochs 3`, one
run each way; MNIST experiments: no difference). The arithmetic is the same.

TensorFlow reads `TF_CPU_ALLOCATOR_USE_BFC` when it creates its CPU device, at the first
operation, so setting it when fml_bench is imported takes effect unless TensorFlow already ran an
operation; a value the user set is kept (`TF_CPU_ALLOCATOR_USE_BFC=false` restores the default).
"""

from __future__ import annotations

import os

VARIABLE = "TF_CPU_ALLOCATOR_USE_BFC"


def prefer_bfc_allocator() -> None:
    """Ask TensorFlow for its BFC allocator on the CPU, unless the user chose otherwise."""
    os.environ.setdefault(VARIABLE, "true")


def bfc_allocator_requested() -> bool:
    """Whether this process asked TensorFlow for the BFC allocator (what its runs record)."""
    return os.environ.get(VARIABLE, "").strip().lower() in ("1", "true")
