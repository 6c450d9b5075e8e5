"""The one place where a run's randomness is seeded."""

from __future__ import annotations

import os

DETERMINISM_ENV = "FML_BENCH_DETERMINISTIC"


def deterministic_ops_requested() -> bool:
    return os.environ.get(DETERMINISM_ENV, "").lower() in {"1", "true", "yes"}


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow for one run (`keras.utils.set_random_seed`).

    With FML_BENCH_DETERMINISTIC=1, TensorFlow's op determinism is switched on as well (it
    stays on for the process). Its cost is measured in `benchmarks/timing`.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic_ops_requested():
        tf.config.experimental.enable_op_determinism()
