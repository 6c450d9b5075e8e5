"""Figures like the book's: per-epoch curves of each experiment of a claim, the mean over
seeds with a 95% confidence band, both conditions on one plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
LABELS = {"loss": "training loss", "accuracy": "training accuracy",
          "val_loss": "validation loss", "val_accuracy": "validation accuracy"}


def mean_band(curves: list[list[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(epochs, mean, half-width of the 95% t-interval) over seeds; curves: (seeds x epochs)."""
    length = min(len(c) for c in curves)
    arr = np.array([c[:length] for c in curves], float)
    mean = arr.mean(axis=0)
    if len(arr) > 1:
        half = stats.t.ppf(0.975, len(arr) - 1) * arr.std(axis=0, ddof=1) / np.sqrt(len(arr))
    else:
        half = np.zeros_like(mean)
    return np.arange(1, length + 1), mean, half


def claim_keys(claim: dict) -> list[str]:
    """The history keys a claim's figure shows: the ones its parts measure, validation first."""
    keys = []
    for part in claim["parts"]:
        metric = part["metric"]
        for key in ("val_accuracy", "val_loss", "accuracy", "loss"):
            if key in metric.split() or metric.endswith(key) or f" {key} " in f" {metric} ":
                if key not in keys:
                    keys.append(key)
                break
    if not keys:
        keys = ["val_accuracy"]
    return keys


def plot_claim(claim: dict, folder: Path) -> Path:
    """Write `<claim_id>.png` into `folder`: one panel per measured history key."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = claim_keys(claim)
    fig, axes = plt.subplots(1, len(keys), figsize=(5.2 * len(keys), 3.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for color, (name, curves) in zip(PALETTE, claim["curves"].items()):
            if not curves.get(key):
                continue
            epochs, mean, half = mean_band(curves[key])
            ax.plot(epochs, mean, color=color, label=f"{name} (n={len(curves[key])})")
            ax.fill_between(epochs, mean - half, mean + half, color=color, alpha=0.2, linewidth=0)
        ax.set_xlabel("Epochs")
        ax.set_ylabel(LABELS[key].capitalize())
        ax.set_title(f"{LABELS[key].capitalize()}, mean and 95% CI over seeds", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{claim['claim_id']} ({claim['tier']} tier): {claim['verdict']}", fontsize=11)
    fig.tight_layout()
    path = folder / f"{claim['claim_id']}-{claim['tier']}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
