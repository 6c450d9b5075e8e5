"""Every claim's assertion can fail: on synthetic runs where the book's claim holds it passes;
on a planted counter-example (swapped or broken conditions) its verdict is FAIL, which fails
the pytest assertion in every tier."""

from __future__ import annotations

import pytest

from fml_bench.claims import CLAIMS, FAIL, PASS, evaluate
from tests.synthetic import records

LEVEL = 0.05 / len(CLAIMS) * 0.7  # the second look's level of the default design
U = dict(min_epoch=4, rise=0.3, min_loss=0.28)  # an overfitting IMDB curve


def imdb_world(**overrides):
    base = dict(
        imdb_16_16=dict(**U, train_loss=0.007, extra={"majority_baseline": (0.5, 0.01)}, val_acc=0.86),
        imdb_4_4=dict(min_epoch=13, rise=0.05, min_loss=0.45, extra={"majority_baseline": (0.5, 0.01)},
                      val_acc=0.84),
        imdb_512_512=dict(min_epoch=2, rise=0.5, jag=0.15, min_loss=0.29, train_loss=0.0002),
        imdb_16_16_l2=dict(min_epoch=5, rise=0.07, min_loss=0.36),
        imdb_16_16_dropout=dict(min_epoch=6, rise=0.15, min_loss=0.284),
        imdb_16_16_l1=dict(min_epoch=8, rise=0.05, min_loss=0.38),
        imdb_16_16_l1_l2=dict(min_epoch=8, rise=0.05, min_loss=0.38),
        imdb_16_16_early_stopping=dict(**U, extra={"restored_val_loss": (0.285, 0.01)}),
    )
    base.update(overrides)
    return {name.replace("_", "-"): records(name.replace("_", "-"), **kw) for name, kw in base.items()}


def mnist_world(**overrides):
    base_line = {"majority_baseline": (0.11, 0.005)}
    base = dict(
        mnist_zero_channels=dict(val_acc=0.94, extra=base_line, epochs=10),
        mnist_noise_channels=dict(val_acc=0.90, epochs=10),
        mnist_shuffled_labels=dict(val_acc=0.10, acc=0.99, noise=0.005, extra=base_line),
        mnist_rmsprop_lr1=dict(val_acc=0.33, epochs=10),
        mnist_rmsprop_lr1e_2=dict(val_acc=0.95, epochs=10),
        mnist_logreg=dict(min_loss=0.36, extra=base_line, val_acc=0.9),
        mnist_96_96=dict(min_epoch=8, rise=0.05, min_loss=0.25, extra=base_line, val_acc=0.93),
        mnist_label_noise_0=dict(val_acc=0.93, epochs=10),
        mnist_label_noise_20=dict(val_acc=0.88, epochs=10),
        mnist_label_noise_40=dict(val_acc=0.80, epochs=10),
        mnist_train_100pct=dict(val_acc=0.95, epochs=10),
        mnist_train_50pct=dict(val_acc=0.93, epochs=10),
        mnist_train_20pct=dict(val_acc=0.90, epochs=10),
        kfold_holdout=dict(extra={"estimate_val_accuracy": (0.8, 0.04)}, epochs=10),
        kfold_4=dict(extra={"estimate_val_accuracy": (0.8, 0.012)}, epochs=10),
        kfold_iterated_3x4=dict(extra={"estimate_val_accuracy": (0.8, 0.003)}, epochs=10),
    )
    base.update(overrides)
    names = {name: name.replace("_", "-") for name in base}
    return {names[n]: records(names[n], **kw) for n, kw in base.items()}


def full_world() -> dict:
    return {**mnist_world(), **imdb_world()}


def swap(runs: dict, a: str, b: str) -> dict:
    out = dict(runs)
    out[a], out[b] = runs[b], runs[a]
    return out


COUNTER_EXAMPLES = {
    "noise-channels": lambda w: swap(w, "mnist-zero-channels", "mnist-noise-channels"),
    "random-labels": lambda w: {**w, "mnist-shuffled-labels": records("x", val_acc=0.93, acc=0.99)},
    "lr-too-high": lambda w: swap(w, "mnist-rmsprop-lr1", "mnist-rmsprop-lr1e-2"),
    "underfit-logreg": lambda w: {**w, "mnist-logreg": records("x", min_epoch=8, rise=0.08, min_loss=0.36)},
    "overfit-capacity": lambda w: swap(w, "mnist-96-96", "mnist-logreg"),
    "imdb-smaller": lambda w: swap(w, "imdb-4-4", "imdb-16-16"),
    "imdb-larger": lambda w: swap(w, "imdb-512-512", "imdb-16-16"),
    "imdb-l2": lambda w: swap(w, "imdb-16-16-l2", "imdb-16-16"),
    "imdb-dropout": lambda w: swap(w, "imdb-16-16-dropout", "imdb-16-16"),
    "imdb-l1": lambda w: swap(w, "imdb-16-16-l1", "imdb-16-16"),
    "label-noise": lambda w: swap(w, "mnist-label-noise-0", "mnist-label-noise-40"),
    "more-data": lambda w: swap(w, "mnist-train-100pct", "mnist-train-20pct"),
    "early-stopping": lambda w: {**w, "imdb-16-16-early-stopping": records(
        "x", **U, extra={"restored_val_loss": (0.75, 0.01)})},
    "common-sense-baseline": lambda w: {**w, "mnist-shuffled-labels": records(
        "x", val_acc=0.5, acc=0.99, extra={"majority_baseline": (0.11, 0.005)})},
    "kfold-variance": lambda w: swap(w, "kfold-4", "kfold-holdout"),
    "iterated-kfold-variance": lambda w: swap(w, "kfold-iterated-3x4", "kfold-4"),
}


def test_every_claim_has_a_counter_example():
    assert set(COUNTER_EXAMPLES) == {c.id for c in CLAIMS}


@pytest.mark.parametrize("claim", CLAIMS, ids=[c.id for c in CLAIMS])
@pytest.mark.parametrize("tier", ["fast", "book"])
def test_claim_passes_where_the_book_holds(claim, tier):
    w = full_world()
    result = evaluate(claim, tier, {n: w[n] for n in claim.experiments()}, LEVEL)
    assert result.verdict == PASS, result.message()


@pytest.mark.parametrize("claim", CLAIMS, ids=[c.id for c in CLAIMS])
@pytest.mark.parametrize("tier", ["fast", "book"])
def test_claim_fails_on_its_counter_example(claim, tier):
    w = COUNTER_EXAMPLES[claim.id](full_world())
    result = evaluate(claim, tier, {n: w[n] for n in claim.experiments()}, LEVEL)
    assert result.verdict == FAIL, result.message()
