"""Experiment specs: data recipe, model, optimizer and fit config, as the book has them.

A spec is a frozen dataclass with a stable content hash (the run store's key). `book_specs`
lists the notebook's configs; `get_spec(name, tier)` scales one to a tier.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from fml_bench.errors import UnknownNameError
from fml_bench.tiers import Tier, get_tier

# Fields added after the first release, with their defaults (see `content_hash`).
LATER_FIELDS: dict[str, object] = {"model_options": (), "evaluate_test": False, "test_size": None}
MNIST_FIT = dict(epochs=10, batch_size=128, validation_split=0.2)
IMDB_FIT = dict(epochs=20, batch_size=512, validation_split=0.4)


@dataclass(frozen=True)
class ExperimentSpec:
    """Everything that determines a run's distribution over seeds.

    dataset: "mnist", "mnist-subset", "fashion-mnist" or "imdb".
    recipe: "plain", "noise-channels", "zero-channels", "shuffled-labels" or "label-noise".
    train_size: rows of the training set used (a fixed stratified subset), None for all.
    train_fraction: fraction of the rows before the validation split that are trained on
        (a fixed stratified subset); the validation rows stay the same, so experiments that
        differ only in it share one validation set.
    protocol: "holdout" (fit with `validation_split`, the book's default),
        "shuffled-holdout", "kfold" or "iterated-kfold" (section 5.2.1; `folds` and
        `repeats` apply).
    early_stopping_patience: None, or the patience of an EarlyStopping(val_loss,
        restore_best_weights=True) callback (section 5.4.3).
    model_options: keyword arguments of the model builder, as (name, value) pairs: empty for
        the book's model; knock-outs set, for example, ("l2", 0.0).
    evaluate_test: also score the trained model (and, with early stopping, the restored one)
        on the dataset's test split, `test_size` rows of it (None: all).
    """

    name: str
    listing: str
    dataset: str
    model: str
    epochs: int
    batch_size: int
    validation_split: float
    recipe: str = "plain"
    label_noise: float = 0.0
    train_size: int | None = None
    train_fraction: float = 1.0
    num_words: int = 10000
    optimizer: str = "rmsprop"
    learning_rate: float | None = None
    loss: str = "sparse_categorical_crossentropy"
    protocol: str = "holdout"
    folds: int = 1
    repeats: int = 1
    early_stopping_patience: int | None = None
    model_options: tuple[tuple[str, float], ...] = ()
    evaluate_test: bool = False
    test_size: int | None = None

    def __post_init__(self) -> None:
        """Refuse a dataset, recipe or protocol that is not registered (`fml_bench.kinds`)."""
        from fml_bench import kinds

        kinds.dataset(self.dataset), kinds.recipe(self.recipe), kinds.protocol(self.protocol)

    def content_hash(self) -> str:
        """Stable 16-hex-digit hash of every field except the display name and listing.

        Fields added after the first release enter the hash only when they differ from their
        default, so the specs that do not use them keep their hashes."""
        fields = dataclasses.asdict(self)
        fields.pop("name")
        fields.pop("listing")
        for name, default in LATER_FIELDS.items():
            if fields[name] == default:
                fields.pop(name)
        blob = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def training_hash(self) -> str:
        """The content hash of the training alone: without scoring the test split, which comes
        after training and changes nothing in it. Specs with one training hash train alike."""
        return self.with_(evaluate_test=False, test_size=None).content_hash()

    def serving_variants(self) -> list[ExperimentSpec]:
        """The specs whose records are records of this one, under any name: itself, and when it
        does not score the test split, the same training with the split scored (at every test
        size a registered spec uses): a record of such a run holds everything this spec's would.
        The store reuses them (`RunStore.load`): a knock-out that makes one arm equal to another
        (noise channels replaced by zeros) trains it once."""
        variants = [self]
        if not self.evaluate_test:
            variants += [self.with_(evaluate_test=True, test_size=size) for size in _registered_test_sizes()]
        return variants

    def with_(self, **changes) -> ExperimentSpec:
        return dataclasses.replace(self, **changes)


def _registered_test_sizes() -> list[int | None]:
    """The test sizes of the registered specs that score the test split, at every tier."""
    from fml_bench.tiers import TIERS

    sizes = {get_spec(name, tier).test_size for name, spec in book_specs().items() if spec.evaluate_test
             for tier in TIERS}
    return sorted(sizes, key=lambda size: -1 if size is None else size)


def _mnist(name: str, listing: str, model: str = "mnist_dense512", **kw) -> ExperimentSpec:
    return ExperimentSpec(name=name, listing=listing, dataset="mnist", model=model, **{**MNIST_FIT, **kw})


def _imdb(name: str, listing: str, model: str, **kw) -> ExperimentSpec:
    return ExperimentSpec(
        name=name, listing=listing, dataset="imdb", model=model, loss="binary_crossentropy",
        **{**IMDB_FIT, **kw},
    )


def book_specs() -> dict[str, ExperimentSpec]:
    """The notebook's experiments at book scale, keyed by name."""
    specs = [
        _mnist("mnist-noise-channels", "Listings 5.1-5.2", recipe="noise-channels"),
        _mnist("mnist-zero-channels", "Listings 5.1-5.2", recipe="zero-channels"),
        _mnist("mnist-shuffled-labels", "Listing 5.4", recipe="shuffled-labels", epochs=100),
        _mnist("mnist-rmsprop-lr1", "Listing 5.7", learning_rate=1.0),
        _mnist("mnist-rmsprop-lr1e-2", "Listing 5.8", learning_rate=1e-2),
        _mnist("mnist-logreg", "Listing 5.9", model="mnist_logreg", epochs=20),
        _mnist("mnist-96-96", "Section 5.3.3", model="mnist_96_96", epochs=20),
        _imdb("imdb-16-16", "Listing 5.10", "imdb_16_16", evaluate_test=True),
        _imdb("imdb-4-4", "Listing 5.11", "imdb_4_4"),
        _imdb("imdb-512-512", "Listing 5.12", "imdb_512_512"),
        _imdb("imdb-16-16-l2", "Listing 5.13", "imdb_16_16_l2"),
        _imdb("imdb-16-16-l1", "Listing 5.14", "imdb_16_16_l1"),
        _imdb("imdb-16-16-l1-l2", "Listing 5.14", "imdb_16_16_l1_l2"),
        _imdb("imdb-16-16-dropout", "Listing 5.15", "imdb_16_16_dropout"),
        _imdb(
            "imdb-16-16-early-stopping", "Section 5.4.3", "imdb_16_16", early_stopping_patience=2,
            evaluate_test=True,
        ),
    ]
    # Section 5.1.1, noisy training data: the listing 5.2 model on partly mislabelled data.
    for pct in (0, 20, 40):
        specs.append(
            _mnist(f"mnist-label-noise-{pct}", "Section 5.1.1", recipe="label-noise", label_noise=pct / 100)
        )
    # Section 5.4.1, dataset curation: more training data helps (one validation set for all).
    for pct in (20, 50, 100):
        specs.append(_mnist(f"mnist-train-{pct}pct", "Section 5.4.1", train_fraction=pct / 100))
    # Section 5.2.1, hold-out vs K-fold vs iterated K-fold on a small dataset.
    small: dict[str, Any] = dict(model="mnist_logreg", train_size=500, epochs=10)
    specs += [
        _mnist("kfold-holdout", "Listing 5.5", protocol="shuffled-holdout", **small),
        _mnist("kfold-4", "Listing 5.6", protocol="kfold", folds=4, **small),
        _mnist("kfold-iterated-3x4", "Section 5.2.1", protocol="iterated-kfold", folds=4, repeats=3, **small),
    ]
    return {s.name: s for s in specs}


def for_tier(spec: ExperimentSpec, tier: Tier) -> ExperimentSpec:
    """Scale a book spec to `tier`: swap the dataset and cap the training rows."""
    changes: dict = {}
    if spec.dataset == "mnist" and tier.mnist_dataset != "mnist":
        changes["dataset"] = tier.mnist_dataset
        if tier.mnist_train_size is not None:
            if spec.train_size is None or spec.train_size > tier.mnist_train_size:
                changes["train_size"] = tier.mnist_train_size
    if spec.dataset == "imdb" and tier.imdb_train_size is not None:
        changes["train_size"] = tier.imdb_train_size
    if spec.dataset == "imdb" and spec.evaluate_test and tier.imdb_test_size is not None:
        changes["test_size"] = tier.imdb_test_size
    if spec.dataset == "mnist" and tier.mnist_batch_size is not None:
        changes["batch_size"] = tier.mnist_batch_size
    if spec.dataset == "imdb" and tier.imdb_batch_size is not None:
        changes["batch_size"] = tier.imdb_batch_size
    changes.update(tier.spec_overrides.get(spec.name, {}))
    return dataclasses.replace(spec, **changes) if changes else spec


def experiment_names() -> list[str]:
    return list(book_specs())


def get_spec(name: str, tier: Tier | str | None = None) -> ExperimentSpec:
    """The spec `name` at `tier` (a Tier, a tier name, or None for the default tier)."""
    specs = book_specs()
    if name not in specs:
        raise UnknownNameError(
            f"unknown experiment {name!r}; `fml-bench list` shows the {len(specs)} experiments"
        )
    tier = tier if isinstance(tier, Tier) else get_tier(tier)
    return for_tier(specs[name], tier)
