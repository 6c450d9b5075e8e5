"""Chosen claims under several TensorFlow/Keras versions or Keras backends, in one table.

    python benchmarks/version_matrix.py \\
        --env "tf2.16=/venvs/tf216/bin/python" --env "tf2.21=.venv/bin/python" \\
        --env "tf2.21-jax=.venv-jax/bin/python:jax" \\
        --claims lr-too-high,imdb-l2 --tier fast --out reports/matrix

Each environment is a Python with fml-bench installed (`pip install -e .` plus the TensorFlow and
Keras under test); `:jax` or `:torch` after the path sets KERAS_BACKEND. Without --engine each
environment trains with its backend's default (the stacked engine under TensorFlow, the vectorised
one under jax and torch); --engine reference runs `model.fit` everywhere. Every environment checks
the claims into one shared store, where the records' fingerprints keep the versions apart, and
writes its own report. The table shows, per claim and environment, the verdict and the main effect
with its interval, and flags what changed between neighbouring environments (a verdict flip, or a
drift of an effect beyond seed variation: `fml_bench.report.compare`, paired by seed, Holm-
corrected).

Training speed: per experiment, epochs are timed in child processes that alternate between the
environments (A, B, A, B, ...) on this machine, so drift of the machine's load hits all of them
alike; the median epoch time per environment is compared with the first environment's, flagged
when slower by more than --factor and Mann-Whitney p < 0.01 over the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy import stats
from tabulate import tabulate

from fml_bench.claims import get_claim
from fml_bench.report import compare

TIMING_CHILD = """
import json, sys, time
from fml_bench.engine import get_engine
from fml_bench.experiments import get_spec
name, tier, engine, epochs, seeds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
spec = get_spec(name, tier).with_(epochs=epochs, early_stopping_patience=None)
records = get_engine(engine)(spec, list(range(seeds)))
print(json.dumps({"epoch_seconds": records[0].epoch_seconds[1:]}))  # the first epoch compiles
"""


def parse_env(text: str) -> tuple[str, str, str | None]:
    name, _, rest = text.partition("=")
    python, _, backend = rest.partition(":")
    if not name or not python:
        raise SystemExit(f"--env {text!r}: write NAME=PYTHON[:BACKEND]")
    return name, python, backend or None


def child_env(backend: str | None) -> dict[str, str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if backend:
        env["KERAS_BACKEND"] = backend
    return env


def check(env: tuple[str, str, str | None], args) -> dict:
    name, python, backend = env
    out = Path(args.out) / name
    cmd = [python, "-m", "fml_bench.cli", "check", *args.claims.split(","), "--tier", args.tier,
           "--store-dir", args.store, "--report-dir", str(out)]
    if args.engine:
        cmd += ["--engine", args.engine]
    if args.seeds:
        cmd += ["--seeds", args.seeds]
    print(f"== {name}: {' '.join(cmd)}", flush=True)
    code = subprocess.run(cmd, env=child_env(backend)).returncode
    if code not in (0, 1):
        raise SystemExit(f"{name}: fml-bench check exited {code}")
    return json.loads((out / "latest" / "results.json").read_text())


def time_epochs(envs, experiments: list[str], args) -> dict[str, dict[str, list[float]]]:
    times: dict[str, dict[str, list[float]]] = {e: {n: [] for n, _, _ in envs} for e in experiments}
    for experiment in experiments:
        for _ in range(args.rounds):
            for name, python, backend in envs:  # alternate, so load drift hits every environment
                out = subprocess.run([python, "-c", TIMING_CHILD, experiment, args.tier, args.engine or "reference",
                                      str(args.epochs), str(args.timing_seeds)],
                                     env=child_env(backend), capture_output=True, text=True, check=True)
                times[experiment][name] += json.loads(out.stdout.strip().splitlines()[-1])["epoch_seconds"]
    return times


def claim_table(envs, docs: dict[str, dict]) -> str:
    names = [n for n, _, _ in envs]
    keys = sorted({(c["claim_id"], c["tier"]) for d in docs.values() for c in d["claims"] if not c.get("knockout")})
    rows = []
    for claim_id, tier in keys:
        row = [claim_id]
        for name in names:
            c = next((c for c in docs[name]["claims"] if (c["claim_id"], c["tier"]) == (claim_id, tier)), None)
            if c is None:
                row.append("-")
                continue
            p = c["parts"][0]
            ci = "" if p["ci_low"] is None else f" [{p['ci_low']:+.3g}, {p['ci_high']:+.3g}]"
            row.append(f"{c['verdict']} {p['estimate']:+.3g}{ci}")
        flags = []
        for before, after in zip(names, names[1:]):
            only = {**docs[before], "claims": [c for c in docs[before]["claims"] if c["claim_id"] == claim_id]}
            now = {**docs[after], "claims": [c for c in docs[after]["claims"] if c["claim_id"] == claim_id]}
            for f in compare.compare_claims(only, now):
                if f.kind in ("flip", "drift"):
                    flags.append(f"{before}->{after}: {f.kind} ({f.detail.split(';')[0]})")
        rows.append(row + ["; ".join(flags) or "-"])
    return tabulate(rows, headers=["claim", *names, "changed between neighbours"], tablefmt="github")


def timing_table(envs, times, factor: float) -> str:
    names = [n for n, _, _ in envs]
    rows = []
    for experiment, per_env in times.items():
        base = np.asarray(per_env[names[0]])
        row = [experiment]
        for name in names:
            t = np.asarray(per_env[name])
            ratio = np.median(t) / np.median(base)
            p = stats.mannwhitneyu(t, base).pvalue if name != names[0] else 1.0
            flag = " SLOWER" if ratio > factor and p < 0.01 else ""
            row.append(f"{np.median(t):.3f}s (x{ratio:.2f}){flag}")
        rows.append(row)
    return tabulate(rows, headers=["experiment (median s/epoch)", *names], tablefmt="github")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", action="append", required=True, help="NAME=PYTHON[:BACKEND], in table order")
    parser.add_argument("--claims", required=True, help="comma-separated claim ids")
    parser.add_argument("--tier", default="fast")
    parser.add_argument("--engine", default=None)
    parser.add_argument("--seeds", default=None, help="as fml-bench check --seeds")
    parser.add_argument("--store", default=".fml-bench/store")
    parser.add_argument("--out", default="reports/matrix")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds per experiment")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per timing child (the first is dropped)")
    parser.add_argument("--timing-seeds", type=int, default=1)
    parser.add_argument("--factor", type=float, default=1.2)
    parser.add_argument("--no-timing", action="store_true")
    args = parser.parse_args(argv)
    envs = [parse_env(e) for e in args.env]
    docs = {name: check((name, python, backend), args) for name, python, backend in envs}
    versions = [[n, d["env"].get("tensorflow"), d["env"].get("keras"), d["env"].get("keras_backend", "tensorflow"),
                 d["env"].get("numpy")] for n, d in docs.items()]
    text = ["# Version matrix", "", tabulate(versions, headers=["environment", "TensorFlow", "Keras", "backend",
                                                               "numpy"], tablefmt="github"), "",
            f"Claims ({args.tier} tier, engine {args.engine or 'the tier default'}):", "", claim_table(envs, docs), ""]
    if not args.no_timing:
        experiments = sorted({e for c in args.claims.split(",") for e in get_claim(c).experiments()})
        text += ["Training speed, epochs timed in alternating processes:", "",
                 timing_table(envs, time_epochs(envs, experiments, args), args.factor), ""]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "matrix.md").write_text("\n".join(text))
    print("\n".join(text))


if __name__ == "__main__":
    sys.exit(main())
