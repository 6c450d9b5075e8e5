"""What keeping jax's compiled programs on disk buys the reference engine, and that it changes
no number.

    python benchmarks/jax_compile_cache.py --python .venv-jax/bin/python --spec kfold-4 --seeds 0 1

Three child processes under KERAS_BACKEND=jax, one after another on this machine, each training
the same seeds of one fast-tier spec with `fml_bench.engine.reference.run_one`:
`off` (no compilation cache: every model.fit traces and compiles its steps again), `cold` (the
cache on, starting empty) and `warm` (the cache as `cold` left it, as in every later run). It
prints each one's seconds per seed, the ratios to `off`, and whether every curve of every seed
is bit-for-bit the same in all three.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

MODES = ("off", "cold", "warm")


def child(spec_name: str, seeds: list[int], mode: str) -> None:
    """Train the seeds in this process and print one JSON line: seconds and curves per seed."""
    import time

    from fml_bench.engine import reference
    from fml_bench.experiments import get_spec

    if mode == "off":
        reference.keep_compiled_programs = lambda: None  # type: ignore[assignment]
    spec = get_spec(spec_name, "fast")
    out = []
    for seed in seeds:
        start = time.perf_counter()
        record = reference.run_one(spec, seed)
        out.append({"seed": seed, "seconds": time.perf_counter() - start, "history": record.history})
    print("RESULT " + json.dumps(out))


def run_mode(python: str, spec_name: str, seeds: list[int], mode: str, cache: Path) -> list[dict]:
    env = dict(os.environ, KERAS_BACKEND="jax", FML_BENCH_CACHE=str(cache), TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    cmd = [python, __file__, "--child", mode, "--spec", spec_name, "--seeds", *map(str, seeds)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        sys.exit(f"{mode} run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=sys.executable, help="a Python with fml-bench and jax installed")
    parser.add_argument("--spec", default="kfold-4", help="a fast-tier experiment (default kfold-4)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.spec, args.seeds, args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        results = {mode: run_mode(args.python, args.spec, args.seeds, mode, Path(tmp)) for mode in MODES}
    off = sum(r["seconds"] for r in results["off"])
    print(f"{args.spec}, seeds {args.seeds}, KERAS_BACKEND=jax")
    for mode in MODES:
        total = sum(r["seconds"] for r in results[mode])
        per_seed = ", ".join(f"{r['seconds']:.1f}" for r in results[mode])
        print(f"  {mode:5s} {total:7.1f} s (per seed {per_seed}), {total / off:.2f}x of off")
    same = all(
        results[mode][i]["history"] == results["off"][i]["history"] for mode in MODES for i in range(len(args.seeds))
    )
    print(f"  curves identical in all three: {same}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
