"""The one place where a run's randomness is seeded: the framework's global generators
(`seed_everything`) and every NumPy stream, derived from (run seed, purpose) by `stream`.

The purposes and their tags are fixed: changing one changes what every stored record would be
(bump the engine's version in the registry if you must).
"""

from __future__ import annotations

import os

import numpy as np

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


#: purpose -> the second word of the stream's seed sequence (kept as first written).
_TAGS = {
    "folds": 5_2_1,  # section 5.2.1's validation folds (fml_bench.protocol)
    "batch-order": 0x5EED,  # the stacked engine's per-seed batch order
}


def _text_tag(purpose: str) -> int:
    return int.from_bytes(purpose.encode()[:8].ljust(8, b"\0"), "little")


def stream(seed: int, purpose: str) -> np.random.Generator:
    """An independent NumPy generator for `purpose` in the run with `seed`.

    Purposes: "folds", "batch-order", and the data recipes' "noise", "shuffle", "labelnoise",
    "subset" (tagged by their name's bytes). The same (seed, purpose) always gives the same
    stream, whatever else the run draws."""
    return np.random.default_rng([seed, _TAGS.get(purpose, _text_tag(purpose))])
