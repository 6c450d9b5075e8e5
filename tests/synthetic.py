"""Synthetic run records with known truth, for testing claims without training."""

from __future__ import annotations

import zlib

import numpy as np

from fml_bench.records import RunRecord

FINGERPRINT = {"engine": "synthetic", "engine_version": "1", "tensorflow": "2.21.0", "keras": "3.15.1",
               "keras_backend": "tensorflow", "numpy": "2.1.3"}


def curves(epochs: int, seed: int, *, val_acc: float = 0.9, acc: float = 0.95, min_epoch: int | None = None,
           min_loss: float = 0.3, rise: float = 0.0, jag: float = 0.0, train_loss: float = 0.1,
           noise: float = 0.002, penalty: float = 0.0) -> dict[str, list[float]]:
    """Per-epoch curves: accuracies rising to a plateau; val_loss falling to `min_loss` at
    `min_epoch` (default: the last epoch), then rising by `rise` with `jag` zig-zag; a constant
    weight `penalty` included in val_loss, as keras reports it."""
    rng = np.random.default_rng(seed)
    e = np.arange(1, epochs + 1)
    m = epochs if min_epoch is None else int(np.clip(min_epoch + rng.integers(-1, 2), 1, epochs))
    start = min_loss + 0.4
    val_loss = np.where(e <= m, start - (start - min_loss) * (e / m) ** 0.5, 0.0)
    if m < epochs:
        after = (e - m) / (epochs - m)
        val_loss = np.where(e > m, min_loss + rise * after + jag * (e % 2) * (e > m), val_loss)
    ramp = 1 - np.exp(-e / 2)
    return {
        "loss": list(0.7 * (train_loss / 0.7) ** (e / epochs) + rng.normal(0, noise / 10, epochs)),
        "accuracy": list(acc * ramp + rng.normal(0, noise, epochs)),
        "val_loss": list(val_loss + penalty + rng.normal(0, noise, epochs)),
        "val_accuracy": list(val_acc * ramp + rng.normal(0, noise, epochs)),
        "penalty": [penalty] * epochs,
    }


def records(name: str, seeds: int = 10, epochs: int = 20, extra=None, **kw) -> list[RunRecord]:
    """`seeds` records of experiment `name`; extra: {key: (mean, sd)} drawn per seed."""
    out = []
    for s in range(seeds):
        rng = np.random.default_rng([s, 7])
        ex = {k: float(rng.normal(mu, sd)) for k, (mu, sd) in (extra or {}).items()}
        out.append(RunRecord(spec_name=name, spec_hash=f"synthetic:{name}", seed=s, engine="synthetic",
                             history=curves(epochs, zlib.crc32(f"{name}:{s}".encode()), **kw),
                             epoch_seconds=[0.0] * epochs, wall_seconds=0.0, extra=ex,
                             fingerprint={**FINGERPRINT, "data": f"synthetic:{name.split('-')[0]}"}))
    return out
