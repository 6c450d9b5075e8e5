"""Engines side by side: time per epoch per seed of every book experiment under the reference
engine (one `model.fit`) and a seed-batching engine (the stacked engine under TensorFlow, the
vectorised one under jax), their ratio, and the achieved GFLOP/s against a matmul peak
measured in the same run.

    python benchmarks/engine_speed.py [--tier book] [--seeds 10] [--epochs 2] [--out FILE]
    KERAS_BACKEND=jax python benchmarks/engine_speed.py --engine vectorised --tier fast
    python benchmarks/engine_speed.py --first-layer --experiments imdb-512-512 [--rounds 3]

`--first-layer` times the stacked engine's routes for IMDB's multi-hot first layer side by side
instead, in alternating rounds of one process: the dense matmul (the rows as dense vectors), every
word as bags (bags.py), and the most frequent words dense with the rest as bags (the engine's
route), per seed and epoch, with each route's ratio to the dense matmul.

Per-epoch times come from the last measured epoch (the first includes tracing and XLA
compilation; a K-fold run's epoch is the sum over its folds' last epochs); the whole-suite
totals extrapolate them to each experiment's epochs at the claims' planned seeds, and say so.
The whole run per seed (building, compiling, every fold) is reported beside it: for the
K-fold experiments, whose models are small, that is where the engines differ most.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from tabulate import tabulate

from fml_bench import kinds
from fml_bench.engine import get_engine, reference
from fml_bench.engine_registry import default_engine, keras_backend
from fml_bench.experiments import book_specs, get_spec
from fml_bench.inputs import holdout_split_index, prepare
from fml_bench.models import build


def matmul_peak_gflops(n: int = 4096, repeats: int = 5) -> float:
    """fp32 GFLOP/s of one large matmul inside a tf.function (eager dispatch measured about 40%
    lower here), best of `repeats` after a warm-up."""
    a = tf.random.uniform((n, n))
    b = tf.random.uniform((n, n))
    matmul = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))
    matmul(a, b).numpy()
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def dense_flops_per_epoch(spec, input_dim: int, rows: int) -> float:
    """Dense-equivalent training FLOPs of one epoch of one seed: 6 per weight per training
    row (forward, backward to activations and weights) + 2 per weight per validation row."""
    model = build(spec.model)
    model.build((None, input_dim))
    weights = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    train = holdout_split_index(rows, spec.validation_split)
    return weights * (6 * train + 2 * (rows - train))


def measure(spec, seeds: int, epochs: int, engine: str) -> dict:
    short = spec.with_(epochs=epochs)
    x, _ = prepare(short, 0)
    models = kinds.protocol(spec.protocol).models_per_run(spec.folds, spec.repeats)
    flops = dense_flops_per_epoch(spec, x.shape[1], x.shape[0]) * models
    start = time.perf_counter()
    ref = reference.run_one(short, 0)
    ref_wall = time.perf_counter() - start
    start = time.perf_counter()
    fast = get_engine(engine)(short, list(range(seeds)))
    fast_wall = time.perf_counter() - start
    ref_epoch = sum(ref.epoch_seconds[epochs - 1 :: epochs])  # every model's last epoch
    fast_epoch = fast[0].epoch_seconds[-1]  # per seed: the stack's epoch time / seeds
    return dict(
        experiment=spec.name, rows=int(x.shape[0]), epochs=spec.epochs, models=models, ref_epoch_s=ref_epoch,
        stacked_epoch_s_per_seed=fast_epoch, ratio=ref_epoch / fast_epoch,
        ref_gflops=flops / ref_epoch / 1e9, stacked_gflops=flops / fast_epoch / 1e9,
        ref_run_s=ref_wall, stacked_run_s_per_seed=fast_wall / seeds, run_ratio=ref_wall / (fast_wall / seeds),
        ref_overhead_s=ref_wall - sum(ref.epoch_seconds), stacked_overhead_s_per_seed=fast_wall / seeds
        - sum(fast[0].epoch_seconds),
    )


FIRST_LAYER_ROUTES = {"dense matmul": None, "every word as bags": 0, "frequent words dense, rest as bags": "default"}


def first_layer_epoch(spec, seeds: int, epochs: int, route) -> float:
    """The stacked engine's seconds per seed and epoch (the mean after the first) on `spec` with
    its first layer computed by `route` (FIRST_LAYER_ROUTES: None the dense matmul, else the number of dense words)."""
    from fml_bench.engine import bags, stacked

    saved_words, saved_sparse = bags.DENSE_WORDS, stacked.use_sparse_input
    try:
        if route is None:
            stacked.use_sparse_input = lambda spec: False
        elif route != "default":
            bags.DENSE_WORDS = route
        seconds = stacked.run_seeds(spec.with_(epochs=epochs), list(range(seeds)))[0].epoch_seconds
        return float(np.mean(seconds[1:] or seconds))  # the first epoch traces and compiles
    finally:
        bags.DENSE_WORDS, stacked.use_sparse_input = saved_words, saved_sparse


def first_layer_table(names: list[str], tier: str, seeds: int, epochs: int, rounds: int) -> str:
    """Each route's best time per seed and epoch over `rounds` alternating rounds."""
    from fml_bench.engine import bags

    best: dict[tuple[str, str], float] = {}
    for _ in range(rounds):
        for name in names:
            for label, route in FIRST_LAYER_ROUTES.items():
                seconds = first_layer_epoch(get_spec(name, tier), seeds, epochs, route)
                best[name, label] = min(best.get((name, label), np.inf), seconds)
                print(f"{name}: {label}: {seconds:.3f} s/epoch/seed", flush=True)
    rows = [[name, label, f"{best[name, label]:.3f}", f"{best[name, 'dense matmul'] / best[name, label]:.2f}x"]
            for name in names for label in FIRST_LAYER_ROUTES]
    return (f"# IMDB's first layer, stacked engine ({tier} tier, {seeds} seeds, mean of epochs 2-{epochs}, best of "
            f"{rounds} alternating rounds; dense words: the {bags.DENSE_WORDS} most frequent)\n\n"
            + tabulate(rows, headers=["experiment", "first layer", "s/epoch/seed", "vs dense matmul"],
                       tablefmt="github") + "\n")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier", default="book")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--experiments", default="", help="comma-separated (default: every experiment)")
    parser.add_argument("--engine", default=None,
                        help="the seed-batching engine (default: stacked, or the one this Keras backend runs)")
    parser.add_argument("--out", default="reports/engine-speed")
    parser.add_argument("--peak-only", action="store_true", help="print the matmul peak and stop")
    parser.add_argument("--first-layer", action="store_true",
                        help="time the stacked engine's routes for IMDB's multi-hot first layer side by side")
    parser.add_argument("--rounds", type=int, default=3, help="with --first-layer: alternating rounds")
    args = parser.parse_args(argv)
    names = args.experiments.split(",") if args.experiments else list(book_specs())
    if args.first_layer:
        text = first_layer_table(names, args.tier, args.seeds, args.epochs, args.rounds)
        print(text)
        out = Path(args.out + "-first-layer")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".md").write_text(text)
        return
    engine = args.engine or default_engine("stacked")
    peak = matmul_peak_gflops()
    if args.peak_only:
        print(f"fp32 matmul peak: {peak:.0f} GFLOP/s")
        return
    rows = []
    for name in names:
        row = measure(get_spec(name, args.tier), args.seeds, args.epochs, engine)
        rows.append(row)
        print(json.dumps(row), flush=True)
    total_ref = sum(r["ref_epoch_s"] * r["epochs"] * args.seeds for r in rows)
    total_fast = sum(r["stacked_epoch_s_per_seed"] * r["epochs"] * args.seeds for r in rows)
    table = tabulate(
        [[r["experiment"], r["rows"], r["models"], f"{r['ref_epoch_s']:.3f}", f"{r['stacked_epoch_s_per_seed']:.3f}",
          f"{r['ratio']:.1f}x", f"{r['ref_run_s']:.2f}", f"{r['stacked_run_s_per_seed']:.2f}", f"{r['run_ratio']:.1f}x",
          f"{r['ref_gflops']:.0f} ({r['ref_gflops'] / peak:.0%})",
          f"{r['stacked_gflops']:.0f} ({r['stacked_gflops'] / peak:.0%})"] for r in rows],
        headers=["experiment", "rows", "models", "reference s/epoch", f"{engine} s/epoch/seed", "ratio",
                 f"reference s/run ({args.epochs} epochs)", f"{engine} s/run/seed", "ratio",
                 "reference GFLOP/s (of peak)", f"{engine} GFLOP/s (of peak)"], tablefmt="github")
    text = (f"# Engine speed ({args.tier} tier, Keras backend {keras_backend()}, reference vs {engine} at "
            f"{args.seeds} seeds, epoch {args.epochs} of {args.epochs})\n\n"
            f"fp32 matmul peak measured in this run: {peak:.0f} GFLOP/s. GFLOP/s are dense-equivalent "
            f"(IMDB's sparse first layer does less arithmetic than counted).\n\n{table}\n\n"
            f"Whole suite at {args.seeds} seeds, extrapolated from the measured epochs: reference "
            f"{total_ref / 60:.1f} min, {engine} {total_fast / 60:.1f} min ({total_ref / total_fast:.1f}x).\n")
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps(
        {"peak_gflops": peak, "engine": engine, "backend": keras_backend(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
