"""The book's data recipes, each a deterministic function of (arrays, seed).

DLwP 2nd ed. chapter 5: noise and zero channels (listing 5.1), shuffled labels (listing 5.4),
multi-hot IMDB vectors (chapter 4, used in section 5.4.4), plus label noise and subsets for
the chapter's claims without notebook code.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from fml_bench.errors import ShapeError
from fml_bench.kinds import MNIST_PIXELS
from fml_bench.seeding import stream


def recipe_rng(seed: int, purpose: str) -> np.random.Generator:
    """A generator for one recipe and seed, independent of the training seed's streams."""
    return stream(seed, purpose)


def flatten_images(images: np.ndarray) -> np.ndarray:
    """(n, 28, 28) uint8 -> (n, 784) float32 in [0, 1], as the book's reshape + /255."""
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ShapeError(f"expected images of shape (n, 28, 28), got {images.shape}")
    return images.reshape((len(images), MNIST_PIXELS)).astype("float32") / 255


def _check_flat(x: np.ndarray) -> None:
    if x.ndim != 2:
        raise ShapeError(f"expected a 2-D (samples, features) array, got shape {x.shape}")


def add_noise_channels(x: np.ndarray, seed: int) -> np.ndarray:
    """Listing 5.1: append as many uniform [0, 1) noise features as there are pixels."""
    _check_flat(x)
    noise = recipe_rng(seed, "noise").random(x.shape, dtype=np.float32)
    return np.concatenate([x, noise], axis=1)


def add_zero_channels(x: np.ndarray) -> np.ndarray:
    """Listing 5.1: append as many all-zero features as there are pixels."""
    _check_flat(x)
    return np.concatenate([x, np.zeros_like(x)], axis=1)


def shuffle_labels(y: np.ndarray, seed: int) -> np.ndarray:
    """Listing 5.4: a random permutation of the training labels (a copy; `y` is untouched)."""
    return recipe_rng(seed, "shuffle").permutation(y)


def corrupt_labels(y: np.ndarray, fraction: float, seed: int, num_classes: int = 10) -> np.ndarray:
    """Section 5.1.1 (noisy training data): replace `fraction` of labels by another class."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    rng = recipe_rng(seed, "labelnoise")
    out = y.copy()
    picked = rng.choice(len(y), size=int(round(fraction * len(y))), replace=False)
    shift = rng.integers(1, num_classes, size=len(picked))
    out[picked] = (y[picked] + shift) % num_classes
    return out


def stratified_subset(y: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """Indices of a class-stratified random subset of `size` rows, in random order."""
    if size > len(y):
        raise ValueError(f"subset of {size} rows requested from {len(y)}")
    rng = recipe_rng(seed, "subset")
    classes, counts = np.unique(y, return_counts=True)
    quotas = np.floor(counts / len(y) * size).astype(int)
    quotas[np.argsort(-(counts / len(y) * size - quotas))[: size - quotas.sum()]] += 1
    picked = [rng.choice(np.flatnonzero(y == c), q, replace=False) for c, q in zip(classes, quotas)]
    return rng.permutation(np.concatenate(picked))


def multi_hot(sequences, num_words: int = 10000, sparse: bool = False):
    """Multi-hot encode word-index sequences (the book's `vectorize_sequences`).

    Returns float32 (n, num_words) (1 GB for 25,000 reviews at 10,000 words, not the
    notebook's 2 GB of float64), or a scipy CSR matrix when `sparse` is true.
    """
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    pieces = [np.asarray(s, dtype=np.int64) for s in sequences]
    cols = np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
    if cols.size and (cols.min() < 0 or cols.max() >= num_words):
        raise ShapeError(f"word index out of range [0, {num_words}): {cols.min()}..{cols.max()}")
    rows = np.repeat(np.arange(len(sequences)), lengths)
    if sparse:
        m = scipy.sparse.csr_matrix(
            (np.ones(len(cols), np.float32), (rows, cols)), shape=(len(sequences), num_words)
        )
        m.sum_duplicates()
        m.data[:] = 1.0
        return m
    out = np.zeros((len(sequences), num_words), dtype=np.float32)
    out[rows, cols] = 1.0
    return out
