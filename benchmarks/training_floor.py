"""The least training time a tier's plans can take on this machine: the multiply-adds the book's
models need at every claim's first look over the fp32 matmul peak of the machine's cores, or the
optimizer's pass over the weights over the memory bandwidth, whichever is longer.

    python benchmarks/training_floor.py [--tier book] [--peak GFLOPS] [--bandwidth GBPS] [--cores N] [--out FILE]

What it counts, per seed of each experiment (shared by claims: trained once, as the suite does):
every training row 2 multiply-add FLOPs per first-layer weight it reaches forward and 2 for that
weight's gradient (no gradient to the inputs), 6 per weight of every later layer; every
validation row 2 per weight it reaches; times the epochs and the models of a run (K-fold's
folds). A row reaches the first-layer weights of its *non-zero* inputs when the input is
multi-hot (IMDB, about 1% ones: the stacked engine sums bags of words), and of every column
that is non-zero in some row otherwise (a dense matmul: MNIST's zero channels left out, as the
stacked engine does, its background pixels in, as in any dense kernel). And every step, RMSprop
reads and writes each weight and its mean square (16 bytes a weight, the gradient fused in).
A seed's floor is the longer of the two: its arithmetic at the matmul peak, its optimizer's
pass at the memory bandwidth. Left out: biases, activations, the losses, and the shorter of the
two. So no fp32 engine doing the book's arithmetic with dense kernels runs faster than the
floor; the measured cost table (`fml_bench/costs.json`) shows how far above it the stacked
engine runs.

Early stopping counts patience + 1 epochs (the fewest it can run). The peak is one thread's
best large fp32 matmul (`engine_speed.matmul_peak_gflops`), the bandwidth one thread's best
NumPy `a += b` over 256 MB arrays (3 bytes moved per byte of `a`), measured here unless given.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MULTI_HOT_DENSITY = 0.05  # below this share of non-zero inputs, count the non-zeros (bags), not the columns
OPTIMIZER_BYTES_PER_WEIGHT = 16  # RMSprop: read and write the weight and its mean square (fp32)


@dataclass(frozen=True)
class SeedShape:
    """What one seed of an experiment multiplies: rows per model, epochs, models per run, the first
    layer's inputs reached per row, its width (fan-in) and units, the weights after the first
    layer, and the batch size (steps an epoch)."""

    train_rows: int
    val_rows: int
    epochs: int
    models: int
    first_inputs: float
    first_width: int
    first_units: int
    later_weights: int
    batch_size: int

    def flops(self) -> float:
        """Multiply-add FLOPs of one seed (see the module doc)."""
        first = self.first_inputs * self.first_units
        per_train_row = 4 * first + 6 * self.later_weights
        per_val_row = 2 * first + 2 * self.later_weights
        return self.models * self.epochs * (self.train_rows * per_train_row + self.val_rows * per_val_row)

    def optimizer_bytes(self) -> float:
        """Bytes the optimizer's pass moves in one seed: every step, every weight."""
        steps = self.models * self.epochs * -(-self.train_rows // self.batch_size)
        weights = self.first_width * self.first_units + self.later_weights
        return steps * weights * OPTIMIZER_BYTES_PER_WEIGHT

    def floor_seconds(self, peak_gflops: float, bandwidth_gbps: float) -> float:
        """The longer of the arithmetic at the peak and the optimizer's pass at the bandwidth."""
        return max(self.flops() / (peak_gflops * 1e9), self.optimizer_bytes() / (bandwidth_gbps * 1e9))


def layer_widths(model_name: str, options, input_dim: int) -> tuple[int, int]:
    """(the first Dense layer's units, the weights of every later Dense layer) of a book model."""
    from fml_bench.models import build

    model = build(model_name, dict(options))
    model.build((None, input_dim))
    kernels = [layer.kernel.shape for layer in model.layers if hasattr(layer, "kernel")]
    return int(kernels[0][1]), sum(int(a) * int(b) for a, b in kernels[1:])


def rows_per_model(spec, rows: int) -> tuple[int, int]:
    """(training rows, validation rows) of each model a run of `spec` trains on `rows` rows."""
    from fml_bench import kinds
    from fml_bench.inputs import holdout_split_index, validation_start

    protocol = kinds.protocol(spec.protocol)
    if protocol.cross_validates and not protocol.shuffled:
        val = rows // spec.folds
        return rows - val, val
    if protocol.shuffled:
        train = holdout_split_index(rows, spec.validation_split)
        return train, rows - train
    start = validation_start(spec, rows)
    return start, rows - start


def seed_shape(spec) -> SeedShape:
    """The SeedShape of `spec`, from its prepared data (seed 0) and its model."""
    import numpy as np

    from fml_bench import kinds
    from fml_bench.inputs import prepare

    x, _ = prepare(spec, 0, sparse=kinds.dataset(spec.dataset).multi_hot)
    rows, width = x.shape
    train, val = rows_per_model(spec, rows)
    live_columns = int(np.count_nonzero(np.any(x != 0, axis=0))) if not hasattr(x, "nnz") else width
    if hasattr(x, "nnz") or np.count_nonzero(x[:1000]) < MULTI_HOT_DENSITY * min(rows, 1000) * width:
        first_inputs = (x.nnz if hasattr(x, "nnz") else np.count_nonzero(x)) / rows
    else:
        first_inputs = live_columns
    units, later = layer_widths(spec.model, spec.model_options, width)
    epochs = spec.epochs if spec.early_stopping_patience is None else spec.early_stopping_patience + 1
    models = kinds.protocol(spec.protocol).models_per_run(spec.folds, spec.repeats)
    return SeedShape(train, val, epochs, models, float(first_inputs), live_columns, units, later, spec.batch_size)


def memory_bandwidth_gbps(megabytes: int = 256, repeats: int = 5) -> float:
    """One thread's best `a += b` over two arrays of `megabytes` each, in GB/s moved (a read,
    b read, a written)."""
    import time

    import numpy as np

    a = np.ones(megabytes * 2**20 // 4, np.float32)
    b = np.ones_like(a)
    best = np.inf
    for _ in range(repeats + 1):  # the first pass faults the pages in
        start = time.perf_counter()
        np.add(a, b, out=a)
        best = min(best, time.perf_counter() - start)
    return 3 * a.nbytes / best / 1e9


@dataclass(frozen=True)
class ExperimentFloor:
    name: str
    seeds_first_look: int
    seeds_at_most: int
    floor_seconds: float  # one seed on one core at the peak
    cost_seconds: float  # one seed as the cost table measured it (one worker's thread)


def floors(tier: str, peak_gflops: float, bandwidth_gbps: float,
           claims: Iterable | None = None) -> list[ExperimentFloor]:
    """Every experiment the tier's claims train (once however many share it): its seeds at the
    claims' first looks and at their last, its floor and its measured seconds a seed."""
    from fml_bench.claims import ALL
    from fml_bench.shards import seed_cost, seeds_at_plans
    from fml_bench.store import RunStore
    from fml_bench.suite import SuiteConfig

    config = SuiteConfig.from_options(tier, RunStore("unused"), None)
    first, every = seeds_at_plans(list(claims if claims is not None else ALL), config)
    out = []
    for key, (spec, seeds) in every.items():
        out.append(ExperimentFloor(spec.name, len(first.get(key, (None, ()))[1]), len(seeds),
                                   seed_shape(spec).floor_seconds(peak_gflops, bandwidth_gbps),
                                   seed_cost(spec, config.tier.name, config.engine)))
    return sorted(out, key=lambda f: -f.floor_seconds * f.seeds_first_look)


def table(rows: list[ExperimentFloor], cores: int) -> tuple[str, dict]:
    from tabulate import tabulate

    body = [[r.name, r.seeds_first_look, r.seeds_at_most, f"{r.floor_seconds:.2f}", f"{r.cost_seconds:.2f}",
             f"{r.cost_seconds / r.floor_seconds:.1f}x" if r.floor_seconds else "-",
             f"{r.floor_seconds * r.seeds_first_look / 60:.2f}"] for r in rows]
    floor_first = sum(r.floor_seconds * r.seeds_first_look for r in rows)
    floor_most = sum(r.floor_seconds * r.seeds_at_most for r in rows)
    cost_first = sum(r.cost_seconds * r.seeds_first_look for r in rows)
    totals = dict(floor_first_min=floor_first / 60 / cores, floor_most_min=floor_most / 60 / cores,
                  cost_first_min=cost_first / 60 / cores)
    text = tabulate(body, headers=["experiment", "seeds (first looks)", "seeds (at most)", "floor s a seed",
                                   "measured s a seed", "measured / floor", "floor min (first looks, one core)"],
                    tablefmt="github")
    return text, totals


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    from fml_bench.tiers import TIERS

    parser.add_argument("--tier", default="book", choices=list(TIERS))
    parser.add_argument("--peak", type=float, default=None, help="one core's fp32 GFLOP/s (default: measure it)")
    parser.add_argument("--bandwidth", type=float, default=None, help="one core's GB/s (default: measure it)")
    parser.add_argument("--cores", type=int, default=None, help="cores training at once (default: this machine's)")
    parser.add_argument("--out", default=None, help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")  # one core's peak, before TensorFlow starts
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    from fml_bench import parallel

    if args.peak is None:
        from engine_speed import matmul_peak_gflops

        args.peak = matmul_peak_gflops()
    if args.bandwidth is None:
        args.bandwidth = memory_bandwidth_gbps()
    cores = args.cores or parallel.usable_cores()
    text, totals = table(floors(args.tier, args.peak, args.bandwidth), cores)
    summary = (f"The {args.tier} tier at its plans' first looks on {cores} cores at {args.peak:.0f} GFLOP/s "
               f"(fp32 matmul peak) and {args.bandwidth:.1f} GB/s each: "
               f"**at least {totals['floor_first_min']:.1f} minutes** of training "
               f"({totals['floor_most_min']:.1f} if every claim took every look); the cost table's seconds "
               f"give {totals['cost_first_min']:.1f}.")
    print(text + "\n\n" + summary)
    if args.out:
        Path(args.out).write_text(f"# Training floor, {args.tier} tier\n\n{text}\n\n{summary}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
