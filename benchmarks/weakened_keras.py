"""A framework build with one mechanism weakened inside Keras, for testing that `fml-bench ab`
notices: a wrapper `python` that runs this interpreter with a `sitecustomize` patching Keras.

    python benchmarks/weakened_keras.py dropout 0.5 --out /tmp/weak   # Dropout's rate halved
    python benchmarks/weakened_keras.py l2 0.25 --out /tmp/weak       # L2's factor quartered
    python benchmarks/weakened_keras.py slow 1.2 --out /tmp/slow      # model.fit's steps 1.2x as long
    fml-bench ab "$(which python)" /tmp/weak/python imdb-dropout

The patches act where both engines reach Keras: `backend.random.dropout` (what
`keras.layers.Dropout` and `keras.random.dropout` call) and `keras.regularizers.L2.__call__`;
`slow` makes every training step of `model.fit` (the reference engine, which the A/B times)
last FACTOR times as long, by sleeping after each batch.
"""

from __future__ import annotations

import argparse
import stat
import sys
from pathlib import Path

PATCHES = {
    "dropout": (
        "from keras.src import backend as _backend\n"
        "_original = _backend.random.dropout\n"
        "def _weakened(inputs, rate, *args, **kwargs):\n"
        "    return _original(inputs, rate * FACTOR, *args, **kwargs)\n"
        "_backend.random.dropout = _weakened\n"
    ),
    "slow": (
        "import time as _time\n"
        "import keras as _keras\n"
        "_original = _keras.Model.fit\n"
        "class _Slower(_keras.callbacks.Callback):\n"
        "    def on_train_batch_begin(self, batch, logs=None):\n"
        "        self._started = _time.perf_counter()\n"
        "    def on_train_batch_end(self, batch, logs=None):\n"
        "        _time.sleep((FACTOR - 1) * (_time.perf_counter() - self._started))\n"
        "def _slower_fit(self, *args, callbacks=None, **kwargs):\n"
        "    return _original(self, *args, callbacks=[*(callbacks or []), _Slower()], **kwargs)\n"
        "_keras.Model.fit = _slower_fit\n"
    ),
    "l2": (
        "from keras.src.regularizers import regularizers as _regularizers\n"
        "_original = _regularizers.L2.__call__\n"
        "def _weakened(self, x):\n"
        "    return _original(self, x) * FACTOR\n"
        "_regularizers.L2.__call__ = _weakened\n"
    ),
}


def make_build(mechanism: str, factor: float, out: Path, python: str = sys.executable) -> Path:
    """Write `out/python` (the weakened build's interpreter) and its sitecustomize; return it."""
    if mechanism not in PATCHES:
        raise ValueError(f"unknown mechanism {mechanism!r}; choose one of {', '.join(PATCHES)}")
    site = out / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(
        f'"""fml-bench test build: Keras {mechanism} weakened by the factor {factor}."""\n'
        "import os\n"
        "os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')\n"
        f"FACTOR = {float(factor)!r}\n" + PATCHES[mechanism]
    )
    wrapper = out / "python"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{site}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{python}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return wrapper


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mechanism", choices=sorted(PATCHES))
    parser.add_argument("factor", type=float,
                        help="dropout: multiplies the rate; l2: multiplies the penalty; slow: the step-time factor")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    print(make_build(args.mechanism, args.factor, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
