"""The cost of TensorFlow's op determinism: epoch times of the same runs with and without
`FML_BENCH_DETERMINISTIC=1`, each in its own process (determinism cannot be switched off
once on), alternating so that machine noise hits both arms alike.

    python benchmarks/determinism_cost.py [--experiment mnist-noise-channels] [--tier book] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

CHILD = """
import json, sys
from fml_bench.engine.reference import run_one
from fml_bench.experiments import get_spec
record = run_one(get_spec(sys.argv[1], sys.argv[2]).with_(epochs=int(sys.argv[3])), 0)
print(json.dumps({"epoch_seconds": record.epoch_seconds, "val_loss": record.history["val_loss"]}))
"""


def one_run(experiment: str, tier: str, epochs: int, deterministic: bool) -> dict:
    env = {**os.environ, "FML_BENCH_DETERMINISTIC": "1" if deterministic else "0"}
    out = subprocess.run([sys.executable, "-c", CHILD, experiment, tier, str(epochs)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", default="mnist-noise-channels")
    parser.add_argument("--tier", default="book")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.repeats):
        for deterministic in (False, True):
            run = one_run(args.experiment, args.tier, args.epochs, deterministic)
            times[deterministic] += run["epoch_seconds"][1:]  # the first epoch includes tracing
    plain, det = np.median(times[False]), np.median(times[True])
    print(f"{args.experiment} ({args.tier}): median epoch {plain:.3f}s without, {det:.3f}s with op determinism "
          f"(cost {det / plain - 1:+.1%}; {len(times[False])} epochs each)")


if __name__ == "__main__":
    main()
