"""What made a run: the fingerprint a stored record is keyed by.

A record is reusable only by a process that would compute it again the same way: the same
engine and engine version, TensorFlow, Keras, Keras backend and numpy, the same device (the CPU
model, or the GPUs with their compute capability: `tensorflow` and `tensorflow-cpu` report the
same version, and floating-point results differ between devices), and the same data
content. Two copies of IMDB (keras' `imdb.npz` and the converted aclImdb reviews) share the
name `imdb` but not necessarily their content, so the data enters as a digest of the arrays
the engine trains and tests on, not as a name.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from fml_bench.experiments import ExperimentSpec

#: The record fields of the fingerprint, in the order reports show them.
FIELDS = ("engine", "engine_version", "tensorflow", "keras", "keras_backend", "numpy", "device", "data")

Fingerprint = dict[str, str]
#: How a store learns the current fingerprint of (spec, engine); tests inject a constant one.
FingerprintFn = Callable[[ExperimentSpec, str], Fingerprint]


def key(fingerprint: Fingerprint) -> str:
    """A short stable name of a fingerprint (12 hex digits of its sha256)."""
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def software() -> Fingerprint:
    """The versions of this process that change what training computes."""
    import keras
    import tensorflow as tf

    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "numpy": np.__version__,
        "device": device(),
    }


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo; `platform.processor()` elsewhere)."""
    import platform

    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device() -> str:
    """What TensorFlow computes on: 'GPU: <name> (compute capability x.y), ...' when it sees GPUs,
    else 'CPU: <model>'."""
    import tensorflow as tf

    gpus = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capability = details.get("compute_capability")
        gpus.append(f"{details.get('device_name', gpu.name)}"
                    + (f" (compute capability {capability[0]}.{capability[1]})" if capability else ""))
    return f"GPU: {', '.join(gpus)}" if gpus else f"CPU: {cpu_model()}"


def _digest_split(h: Any, x: Any, y: np.ndarray) -> None:  # x: an array, or one sequence per review
    if isinstance(x, np.ndarray) and x.dtype != object:
        h.update(str((x.dtype, x.shape)).encode())
        h.update(np.ascontiguousarray(x).tobytes())
    else:  # IMDB: one integer sequence per review
        lengths = np.fromiter((len(s) for s in x), dtype=np.int64)
        h.update(lengths.tobytes())
        h.update(np.concatenate([np.asarray(s, dtype=np.int64) for s in x]).tobytes())
    h.update(np.ascontiguousarray(y).tobytes())


@functools.lru_cache(maxsize=8)
def _data_digest(dataset: str, num_words: int, data_dir: str | None) -> str:
    from fml_bench import inputs

    h = hashlib.sha256()
    for x, y in inputs.dataset_splits(dataset, num_words, data_dir):
        _digest_split(h, x, y)
    return f"{dataset}:{h.hexdigest()[:16]}"


def data_digest(spec: ExperimentSpec, data_dir: str | None = None) -> str:
    """`<dataset>:<16 hex digits>` over the train and test arrays `spec`'s dataset loads as."""
    from fml_bench import inputs

    return _data_digest(spec.dataset, spec.num_words, inputs.data_dir_key(data_dir))


def fingerprint(spec: ExperimentSpec, engine: str) -> Fingerprint:
    """The current process's fingerprint for running `spec` on `engine`."""
    from fml_bench.engine_registry import engine_version

    return {"engine": engine, "engine_version": str(engine_version(engine, spec)), **software(),
            "data": data_digest(spec)}


def describe(fingerprint: Fingerprint) -> str:
    """'TF 2.21.0, Keras 3.15.1 (tensorflow), numpy 2.1.3, stacked v2, data imdb:1a2b...'."""
    f = fingerprint
    return (
        f"TF {f.get('tensorflow', '?')}, Keras {f.get('keras', '?')} ({f.get('keras_backend', '?')}), "
        f"numpy {f.get('numpy', '?')}, {f.get('engine', '?')} v{f.get('engine_version', '?')}, "
        + (f"{f['device']}, " if f.get("device") else "") + f"data {f.get('data', '?')}"
    )
