"""The datasets, data recipes and validation protocols an experiment names, as registered objects.

An `ExperimentSpec` names each by a string (the string is part of its content hash); the spec is
validated against these registries when it is made, and code asks the object what it needs (its
rows, its input width, whether it cross-validates) instead of branching on the name. How a
recipe transforms the data lives beside the data code (`inputs.RECIPE_STEPS`), one entry per
recipe registered here.
"""

from __future__ import annotations

from dataclasses import dataclass

from fml_bench.errors import UnknownNameError

MNIST_PIXELS = 28 * 28


@dataclass(frozen=True)
class Dataset:
    """rows: training rows as loaded (before a train_size subset). multi_hot: the inputs are
    reviews encoded as multi-hot vectors over the spec's `num_words` (Listing 4.3), else images
    of MNIST_PIXELS pixels."""

    name: str
    rows: int
    multi_hot: bool = False

    def input_width(self, num_words: int) -> int:
        return num_words if self.multi_hot else MNIST_PIXELS


@dataclass(frozen=True)
class Recipe:
    """A transformation of the training data (section 5.1). width_factor: input columns per
    original column (noise or zero channels double them). inputs_per_seed: the transformed inputs
    depend on the seed (drawn noise), so seeds cannot share one copy."""

    name: str
    width_factor: int = 1
    inputs_per_seed: bool = False


@dataclass(frozen=True)
class Protocol:
    """How a run is validated (section 5.2.1). cross_validates: the run trains one model per
    held-out fold (`protocol.validation_folds`) instead of keras' trailing `validation_split`.
    repeated: its folds come in `repeats` reshuffled partitions. shuffled: one shuffled hold-out."""

    name: str
    cross_validates: bool = False
    repeated: bool = False
    shuffled: bool = False

    def models_per_run(self, folds: int, repeats: int) -> int:
        if not self.cross_validates:
            return 1
        return (folds if not self.shuffled else 1) * (repeats if self.repeated else 1)


DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("mnist", 60000), Dataset("fashion-mnist", 60000), Dataset("mnist-subset", 5000),
    Dataset("imdb", 25000, multi_hot=True),
)}
RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("plain"), Recipe("noise-channels", width_factor=2, inputs_per_seed=True),
    Recipe("zero-channels", width_factor=2), Recipe("shuffled-labels"), Recipe("label-noise"),
)}
PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol("holdout"), Protocol("shuffled-holdout", cross_validates=True, shuffled=True),
    Protocol("kfold", cross_validates=True), Protocol("iterated-kfold", cross_validates=True, repeated=True),
)}


def _lookup(registry: dict, kind: str, name: str):
    try:
        return registry[name]
    except KeyError:
        raise UnknownNameError(f"unknown {kind} {name!r}; choose one of {', '.join(registry)}") from None


def dataset(name: str) -> Dataset:
    return _lookup(DATASETS, "dataset", name)


def recipe(name: str) -> Recipe:
    return _lookup(RECIPES, "recipe", name)


def protocol(name: str) -> Protocol:
    return _lookup(PROTOCOLS, "protocol", name)


def multi_hot_input(dataset_name: str, recipe_name: str) -> bool:
    """The inputs reach the model as multi-hot rows: a multi-hot dataset under the plain recipe
    (the stacked engine trains those as bag sums, `engine/bags.py`)."""
    return dataset(dataset_name).multi_hot and recipe(recipe_name) == RECIPES["plain"]
