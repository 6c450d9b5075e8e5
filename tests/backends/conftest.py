"""Tests that need a Keras backend other than TensorFlow. Keras picks its backend once per
process, so these are collected only in a process started with KERAS_BACKEND=jax; the main
run starts one (`tests/test_keras_backends.py`)."""

from __future__ import annotations

from fml_bench.engine_registry import keras_backend

collect_ignore_glob = [] if keras_backend() in ("jax", "torch") else ["test_*.py"]
