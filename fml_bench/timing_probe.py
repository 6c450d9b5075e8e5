"""One timing round inside one build: train each named experiment for a few epochs of one seed
and print the seconds per epoch as JSON (the A/B runs this in child processes that alternate
between the builds, so that both builds see the same machine state).

    python -m fml_bench.timing_probe --tier fast --epochs 3 --engine reference mnist-96-96 imdb-16-16

Each experiment's first epoch (graph tracing, compilation) is dropped; the median of the rest is
its time per epoch. K-fold experiments train every fold, each fold's epochs counted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def epoch_seconds(name: str, tier_name: str, epochs: int, engine: str, seed: int = 0) -> list[float]:
    """Seconds of each epoch after the first of one seed of `name` cut to `epochs` epochs."""
    from fml_bench.engine import get_engine
    from fml_bench.experiments import get_spec
    from fml_bench.tiers import get_tier

    spec = get_spec(name, get_tier(tier_name))
    spec = spec.with_(epochs=min(epochs, spec.epochs))
    record = get_engine(engine)(spec, [seed])[0]
    seconds = [float(s) for s in record.epoch_seconds]
    return seconds[1:] if len(seconds) > 1 else seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier", default="fast")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--engine", default="reference")
    parser.add_argument("experiments", nargs="+")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    out = {name: epoch_seconds(name, args.tier, args.epochs, args.engine) for name in args.experiments}
    print("FML_BENCH_TIMING " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
