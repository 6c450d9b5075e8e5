"""The environment manifest recorded with every run and report."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path


def _cpuinfo(field: str) -> str | None:
    """The value of the first `field` line of /proc/cpuinfo, None where there is none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _cpu_model() -> str:
    return _cpuinfo("model name") or platform.processor() or "unknown"


SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")


def _cpu_features() -> str:
    """The vector instructions the CPU offers that fp32/bf16 matmul speed turns on: "AMD EPYC"
    names a Zen 3 (AVX2) and a Zen 4 (AVX-512, bf16) alike."""
    flags = _cpuinfo("flags")
    if flags is None:
        return "unknown"
    present = set(flags.split())
    return " ".join(flag for flag in SIMD_FLAGS if flag in present) or "none of " + ",".join(SIMD_FLAGS)


def git_commit(path: Path | None = None) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=path or Path(__file__).parent,
            capture_output=True, text=True, timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@functools.lru_cache(maxsize=1)
def manifest() -> dict[str, str]:
    """Versions, CPU and threading of this process (computed once)."""
    import scipy
    import tensorflow as tf

    from fml_bench import __version__
    from fml_bench.provenance import software
    from fml_bench.seeding import deterministic_ops_requested
    from fml_bench.tf_allocator import bfc_allocator_requested

    return {
        "fml_bench": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        **software(),  # TensorFlow, Keras, its backend, numpy: what also keys stored records
        "scipy": scipy.__version__,
        "cpu": _cpu_model(),
        "cpu_features": _cpu_features(),
        "cpu_count": str(os.cpu_count()),
        "intra_op_threads": str(tf.config.threading.get_intra_op_parallelism_threads()),
        "inter_op_threads": str(tf.config.threading.get_inter_op_parallelism_threads()),
        "op_determinism": str(deterministic_ops_requested()),
        "tf_cpu_allocator": "bfc" if bfc_allocator_requested() else "default",
        "platform": platform.platform(),
    }
