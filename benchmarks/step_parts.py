"""Where a stacked MNIST step's time goes, and how fast this CPU multiplies at the book's and the
fast tier's batch sizes: one thread, random data of the book's shapes (784 -> 512 -> 10).

    python benchmarks/step_parts.py [--seeds 10] [--batch 32] [--steps 125]

Prints ms per seed and step of: the forward pass, forward and gradients, those and keras'
RMSprop, RMSprop alone (each as one compiled loop of `--steps` steps, with XLA and without), then
GFLOP/s of one matmul of 32, 128 and 1024 rows by the 784 x 512 kernel, and of the stacked
forward matmul as the engine writes it (`einsum`), as a batched matmul and one matmul per seed.
"""

from __future__ import annotations

import argparse
import os
import time

INPUTS, UNITS, CLASSES, ROWS = 784, 512, 10, 4000


def best_seconds(fn, *args, calls: int = 1, repeats: int = 5) -> float:
    """The best of `repeats` timings of `calls` calls (after one warm-up), per call."""
    fn(*args)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            out = fn(*args)
        float(out) if out.shape == () else out.numpy()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def step_parts(seeds: int, batch: int, steps: int) -> list[tuple[str, bool, float]]:
    """(part, XLA, ms per seed and step) of a stacked 784-512-10 step (see the module doc)."""
    import keras
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((ROWS, INPUTS), dtype=np.float32))
    y = tf.constant(rng.integers(0, CLASSES, ROWS).astype(np.int32))
    weights = [tf.Variable(rng.normal(0, 0.05, shape).astype(np.float32)) for shape in
               ((seeds, INPUTS, UNITS), (seeds, UNITS), (seeds, UNITS, CLASSES), (seeds, CLASSES))]
    optimizer = keras.optimizers.RMSprop()
    optimizer.build(weights)
    batches = tf.constant(np.stack([np.stack([rng.permutation(ROWS)[:batch] for _ in range(seeds)])
                                    for _ in range(steps)]).astype(np.int32))

    def loss(idx):
        w1, b1, w2, b2 = weights
        h = tf.nn.relu(tf.einsum("sbi,sio->sbo", tf.gather(x, idx), w1) + b1[:, None, :])
        logits = tf.einsum("sbi,sio->sbo", h, w2) + b2[:, None, :]
        return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(tf.gather(y, idx), logits))

    def body(part):
        def step(i, total):
            if part == "forward":
                return i + 1, total + loss(batches[i])
            if part == "RMSprop alone":
                optimizer.apply([tf.fill(tf.shape(w), 1e-3) for w in weights], weights)
                return i + 1, total
            with tf.GradientTape() as tape:
                value = loss(batches[i])
            grads = tape.gradient(value, weights)
            if part == "forward, gradients, RMSprop":
                optimizer.apply(grads, weights)
            else:
                value += tf.add_n([tf.reduce_sum(g) for g in grads]) * 0.0
            return i + 1, total + value

        return lambda: tf.while_loop(lambda i, _: i < steps, step, (tf.constant(0), tf.constant(0.0)))[1]

    out = []
    for xla in (True, False):
        for part in ("forward", "forward and gradients", "forward, gradients, RMSprop", "RMSprop alone"):
            seconds = best_seconds(tf.function(body(part), jit_compile=xla))
            out.append((part, xla, seconds / steps / seeds * 1e3))
    return out


def matmul_rates(seeds: int) -> list[tuple[str, bool, float]]:
    """(shape, XLA, GFLOP/s) of one matmul by the 784 x 512 kernel and of the stacked forward."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    kernel = tf.constant(rng.random((INPUTS, UNITS), dtype=np.float32))
    stacked_x = tf.constant(rng.random((seeds, 32, INPUTS), dtype=np.float32))
    stacked_kernel = tf.constant(rng.random((seeds, INPUTS, UNITS), dtype=np.float32))
    out = []
    for xla in (True, False):
        matmul = tf.function(lambda a, b: tf.matmul(a, b), jit_compile=xla)
        for rows in (32, 128, 1024):
            a = tf.constant(rng.random((rows, INPUTS), dtype=np.float32))
            out.append((f"{rows} x {INPUTS} x {UNITS}", xla,
                        2 * rows * INPUTS * UNITS / best_seconds(matmul, a, kernel, calls=100) / 1e9))
        stacked = {
            "stacked einsum": lambda a, b: tf.einsum("sbi,sio->sbo", a, b),
            "batched matmul": lambda a, b: tf.matmul(a, b),
            "a matmul per seed": lambda a, b: tf.stack([tf.matmul(a[s], b[s]) for s in range(seeds)]),
        }
        for name, fn in stacked.items():
            seconds = best_seconds(tf.function(fn, jit_compile=xla), stacked_x, stacked_kernel, calls=100)
            out.append((f"{name}, {seeds} seeds x 32 rows", xla, 2 * seeds * 32 * INPUTS * UNITS / seconds / 1e9))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=125)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")  # one core, before TensorFlow starts
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    from tabulate import tabulate

    parts = step_parts(args.seeds, args.batch, args.steps)
    print(f"{args.seeds} seeds, batch {args.batch}, {args.steps} steps; ms per seed and step")
    print(tabulate([[p, "yes" if x else "no", f"{ms:.3f}"] for p, x, ms in parts],
                   headers=["part", "XLA", "ms"], tablefmt="github"))
    flops = 6 * args.batch * (INPUTS * UNITS + UNITS * CLASSES)
    print(f"(the arithmetic of forward and gradients: {flops / 1e6:.0f} MFLOP a seed and step)\n")
    print(tabulate([[s, "yes" if x else "no", f"{g:.0f}"] for s, x, g in matmul_rates(args.seeds)],
                   headers=["matmul", "XLA", "GFLOP/s"], tablefmt="github"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
