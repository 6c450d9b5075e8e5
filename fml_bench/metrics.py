"""Scalar metrics of one run record: what a claim measures per seed.

Epochs are 1-based in every returned epoch number, as keras prints them and the book plots.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fml_bench.records import RunRecord


@dataclass(frozen=True)
class Metric:
    """A named function RunRecord -> float, with the history key it reads (for figures).

    discrete: the metric takes few distinct values (an epoch number), so claims test it with
    an exact permutation test rather than a t test."""

    name: str
    key: str
    fn: Callable[[RunRecord], float]
    discrete: bool = False

    def __call__(self, record: RunRecord) -> float:
        return float(self.fn(record))


def last(key: str) -> Metric:
    """The final epoch's value."""
    return Metric(f"last-epoch {key}", key, lambda r: r.curve(key)[-1])


def best(key: str) -> Metric:
    """The best epoch's value: max for accuracies, min for losses."""
    pick = np.max if "accuracy" in key else np.min
    return Metric(f"best {key}", key, lambda r: pick(r.curve(key)))


def log10_last(key: str) -> Metric:
    """log10 of the final epoch's value: for quantities that shrink by orders of magnitude
    (a training loss near zero)."""
    return Metric(f"log10 last-epoch {key}", key, lambda r: np.log10(max(r.curve(key)[-1], 1e-12)))


def best_penalty_free(key: str = "val_loss") -> Metric:
    """The lowest `key` without the weight penalty keras adds to it (`penalty` curve): the data
    loss, comparable between a regularized and an unregularized model."""

    def fn(r: RunRecord) -> float:
        penalty = r.curve("penalty") if "penalty" in r.history else np.zeros(len(r.curve(key)))
        return float(np.min(r.curve(key) - penalty))

    return Metric(f"best penalty-free {key}", key, fn)


def late_mean(key: str, epochs: int = 5) -> Metric:
    """Mean over the last `epochs` epochs (late training, steadier than the last epoch)."""
    return Metric(f"mean {key} of the last {epochs} epochs", key, lambda r: np.mean(r.curve(key)[-epochs:]))


def epoch_of_min(key: str = "val_loss") -> Metric:
    """The epoch (1-based) at which `key` is lowest: where overfitting begins."""
    return Metric(f"epoch of minimum {key}", key, lambda r: int(np.argmin(r.curve(key))) + 1, discrete=True)


def rise_after_min(key: str = "val_loss") -> Metric:
    """Last value minus the minimum: how far `key` degrades after its best epoch."""
    return Metric(f"rise of {key} after its minimum", key, lambda r: r.curve(key)[-1] - np.min(r.curve(key)))


def jaggedness(key: str = "val_loss", min_points: int = 5) -> Metric:
    """log10 of the residual spread of the curve after its minimum around a quadratic fit: how far
    it moves up and down beyond a smooth trend (section 5.4.4's "noisier validation loss" of the
    large model). A scale, compared by ratio (0.3 = twice as jagged). The residual sd (3 degrees
    of freedom taken by the fit) is never exactly zero for a trained curve, so no floor constant
    sets the scale (the previous metric, log10(0.001 + sum|steps| - |net|), put every monotone
    tail at -3: issue 20). A tail shorter than `min_points` epochs uses the last `min_points`."""

    def fn(r: RunRecord) -> float:
        curve = np.asarray(r.curve(key), float)
        tail = curve[int(np.argmin(curve)) :]
        if len(tail) < min_points:
            tail = curve[-min_points:]
        epochs = np.arange(len(tail), dtype=float)
        residuals = tail - np.polyval(np.polyfit(epochs, tail, 2), epochs)
        spread = float(np.sqrt(np.sum(residuals**2) / max(1, len(tail) - 3)))
        return float(np.log10(max(spread, 1e-12)))

    return Metric(f"log10 residual sd of {key} after its minimum around a quadratic fit", key, fn)


def late_slope(key: str = "val_loss", epochs: int = 5) -> Metric:
    """Least-squares slope of `key` per epoch over the last `epochs` epochs.

    Negative while a curve still falls, near zero on a plateau, positive once it rises.
    """

    def fn(r: RunRecord) -> float:
        tail = r.curve(key)[-epochs:]
        return float(np.polyfit(np.arange(len(tail)), tail, 1)[0])

    return Metric(f"slope of {key} per epoch over the last {epochs} epochs", key, fn)


def extra(name: str, key: str = "val_accuracy") -> Metric:
    """A protocol-specific scalar stored in `record.extra` (e.g. a K-fold estimate)."""
    return Metric(name.replace("_", " "), key, lambda r: r.extra[name])
