"""The A/B's speed rule on this machine: how noisy alternating timing rounds are, how often an
A/A run (a build against itself) is flagged, and how often a real 1.2x slow-down is.

    python benchmarks/ab_power.py --rounds 8 --repeats 3 [experiments...]

Runs `fml-bench ab PY PY --no-effects` `repeats` times (A/A) and `fml-bench ab PY SLOW` as many
times against a build whose model.fit steps last 1.2x as long (`weakened_keras.py slow 1.2`),
then prints per experiment: the round-to-round sd of log(t_B / t_A) in the A/A runs, the power
to flag 1.2x at that noise and `--rounds`, the rounds needed for 90% power, and the flags seen
(A/A: slower or faster; slow build: slower). Each run is a folder under --out, kept.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from tabulate import tabulate
from weakened_keras import make_build

from fml_bench import ab_stats
from fml_bench.claims import CLAIMS


def run_ab(a: str, b: str, out: Path, rounds: int, claims: list[str]) -> dict:
    cmd = [sys.executable, "-m", "fml_bench.cli", "ab", a, b, *claims, "--no-effects", "--rounds", str(rounds),
           "--out", str(out)]
    subprocess.run(cmd, check=False)
    return json.loads((out / "ab.json").read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slowdown", type=float, default=1.2)
    parser.add_argument("--out", type=Path, default=Path("reports/ab-power"))
    parser.add_argument("claims", nargs="*", help="claims whose experiments are timed (default: all)")
    args = parser.parse_args(argv)
    claims = args.claims or [c.id for c in CLAIMS]
    slow = make_build("slow", args.slowdown, args.out / "slow-build")
    runs: dict[str, list[dict]] = {"aa": [], "slow": []}
    for i in range(args.repeats):
        runs["aa"].append(run_ab(sys.executable, sys.executable, args.out / f"aa-{i}", args.rounds, claims))
        runs["slow"].append(run_ab(sys.executable, str(slow), args.out / f"slow-{i}", args.rounds, claims))
    rows = []
    experiments = [s["experiment"] for s in runs["aa"][0]["speed"]]
    for name in experiments:
        aa = [next(s for s in r["speed"] if s["experiment"] == name) for r in runs["aa"]]
        sl = [next(s for s in r["speed"] if s["experiment"] == name) for r in runs["slow"]]
        sd = float(np.sqrt(np.mean([s["log_ratio_sd"] ** 2 for s in aa])))
        confidence = aa[0]["confidence"]
        need = ab_stats.rounds_for_power(sd, confidence)
        rows.append([name, f"{np.median([s['seconds_a'] for s in aa]):.3g}", f"{sd:.3f}",
                     f"{ab_stats.slowdown_power(sd, args.rounds, confidence):.2f}", need or "> 200",
                     sum(s["verdict"] != "unchanged" for s in aa),
                     f"{np.median([s['ratio'] for s in sl]):.2f}", sum(s["verdict"] == "slower" for s in sl)])
    print(tabulate(rows, headers=["experiment", "s/epoch", "A/A sd log ratio", f"power at 1.2x, {args.rounds} rounds",
                                  "rounds for 90%", f"A/A flags of {args.repeats}", "slow build ratio",
                                  f"slow build flagged of {args.repeats}"], tablefmt="github"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
