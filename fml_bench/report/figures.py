"""Figures like the book's: per-epoch curves of each experiment of a claim, the mean over
seeds with a 95% confidence band, both conditions on one plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

from fml_bench.paths import safe_file_name

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
    """The history keys a claim's figure shows: the ones its parts measure, in order."""
    keys = []
    for part in claim["parts"]:
        key = part.get("metric_key")
        if key in LABELS and key not in keys:
            keys.append(key)
    return keys or ["val_accuracy"]


def _save(fig, claim: dict, folder: Path) -> Path:
    """Title the figure with the claim and its verdict; write `<claim_id>-<tier>.png`."""
    import matplotlib.pyplot as plt

    knockout = f", knock-out: {claim['knockout']}" if claim.get("knockout") else ""
    fig.suptitle(f"{claim['claim_id']} ({claim['tier']} tier{knockout}): {claim['verdict']}", fontsize=11)
    fig.tight_layout()
    name = f"{claim['claim_id']}-{claim['tier']}{'-knockout' if knockout else ''}.png"
    path = folder / safe_file_name(name)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_spread(claim: dict, folder: Path) -> Path:
    """Spread claims (K-fold): each arm's per-seed estimates as points, with mean and sd."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    part = claim["parts"][0]
    arms = [(part["a"], part["values_a"]), (part["b"], part["values_b"])]
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    rng = np.random.default_rng(0)
    for i, (_, values) in enumerate(arms):
        v = np.asarray(values, float)
        ax.scatter(i + rng.uniform(-0.08, 0.08, len(v)), v, color=PALETTE[i], alpha=0.7, s=18)
        ax.errorbar(i + 0.22, v.mean(), yerr=v.std(ddof=1), color=PALETTE[i], capsize=4, fmt="o")
    ax.set_xticks(range(len(arms)), [f"{n}\n(sd {np.std(v, ddof=1):.4f}, n={len(v)})" for n, v in arms])
    ax.set_ylabel(part["metric"].capitalize())
    ax.set_title("Per-seed estimates, mean and sd", fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, claim, folder)


def plot_claim(claim: dict, folder: Path) -> Path:
    """Write `<claim_id>-<tier>.png` into `folder`: one panel per measured history key
    (a strip plot of per-seed estimates for spread claims)."""
    if claim["parts"][0]["test"].startswith("Pitman-Morgan"):
        return plot_spread(claim, folder)
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
    return _save(fig, claim, folder)
