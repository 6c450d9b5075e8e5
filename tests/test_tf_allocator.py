"""fml_bench asks TensorFlow for its BFC allocator on the CPU when it is imported (why:
fml_bench/tf_allocator.py), and keeps a user's own choice. Each case runs in a fresh process:
TensorFlow creates its allocator once, at its first operation."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fml_bench import env, tf_allocator

PROBE = """
import fml_bench, tensorflow as tf
tf.constant(1.0) + 1.0
try:
    tf.config.experimental.get_memory_info("CPU:0")  # only a pooling allocator keeps these stats
    print("bfc")
except ValueError:
    print("default")
"""


def allocator_in_fresh_process(value: str | None) -> str:
    child_env = {k: v for k, v in os.environ.items() if k != tf_allocator.VARIABLE}
    if value is not None:
        child_env[tf_allocator.VARIABLE] = value
    done = subprocess.run([sys.executable, "-c", PROBE], env={**child_env, "TF_CPP_MIN_LOG_LEVEL": "3"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()[-1]


@pytest.mark.parametrize(("value", "expected"), [(None, "bfc"), ("false", "default"), ("true", "bfc")])
def test_importing_fml_bench_gives_tensorflow_the_bfc_allocator_unless_the_user_says_otherwise(value, expected):
    assert allocator_in_fresh_process(value) == expected


def test_the_manifest_records_the_allocator_and_the_cpus_vector_instructions():
    manifest = env.manifest()
    assert manifest["tf_cpu_allocator"] == ("bfc" if tf_allocator.bfc_allocator_requested() else "default")
    assert manifest["cpu_features"]
