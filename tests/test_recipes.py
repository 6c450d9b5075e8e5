"""The book's data recipes: shapes, dtypes, determinism and the noise's statistics."""

from __future__ import annotations

import numpy as np
import pytest

from fml_bench import recipes
from fml_bench.errors import ShapeError


@pytest.fixture
def pixels():
    rng = np.random.default_rng(0)
    return recipes.flatten_images(rng.integers(0, 256, (300, 28, 28), dtype=np.uint8))


def test_flatten_images_scales_to_unit_float32(pixels):
    assert pixels.shape == (300, 784) and pixels.dtype == np.float32
    assert 0.0 <= pixels.min() and pixels.max() <= 1.0


def test_flatten_rejects_a_wrong_shape():
    with pytest.raises(ShapeError, match=r"\(n, 28, 28\)"):
        recipes.flatten_images(np.zeros((10, 784), np.uint8))


def test_noise_channels_are_uniform_and_seeded(pixels):
    noisy = recipes.add_noise_channels(pixels, seed=3)
    assert noisy.shape == (300, 1568) and noisy.dtype == np.float32
    np.testing.assert_array_equal(noisy[:, :784], pixels)
    noise = noisy[:, 784:]
    assert noise.min() >= 0 and noise.max() < 1
    assert noise.mean() == pytest.approx(0.5, abs=0.005)
    assert noise.var() == pytest.approx(1 / 12, abs=0.002)
    np.testing.assert_array_equal(noisy, recipes.add_noise_channels(pixels, seed=3))
    assert not np.array_equal(noisy, recipes.add_noise_channels(pixels, seed=4))


def test_zero_channels(pixels):
    zeros = recipes.add_zero_channels(pixels)
    assert zeros.shape == (300, 1568) and zeros.dtype == np.float32
    assert not zeros[:, 784:].any()


def test_channel_recipes_reject_images_that_are_not_flat():
    with pytest.raises(ShapeError):
        recipes.add_noise_channels(np.zeros((5, 28, 28), np.float32), 0)


def test_shuffled_labels_are_a_seeded_permutation_and_a_copy():
    y = np.repeat(np.arange(10), 50)
    original = y.copy()
    shuffled = recipes.shuffle_labels(y, seed=1)
    np.testing.assert_array_equal(y, original)  # unlike the notebook's train_labels[:] view
    np.testing.assert_array_equal(np.sort(shuffled), np.sort(y))
    assert np.mean(shuffled == y) < 0.3
    np.testing.assert_array_equal(shuffled, recipes.shuffle_labels(y, seed=1))


@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.4])
def test_corrupt_labels_changes_exactly_the_fraction(fraction):
    y = np.repeat(np.arange(10), 100)
    noisy = recipes.corrupt_labels(y, fraction, seed=0)
    assert np.mean(noisy != y) == pytest.approx(fraction)
    assert noisy.min() >= 0 and noisy.max() <= 9


def test_stratified_subset_keeps_class_balance_and_is_fixed():
    y = np.repeat(np.arange(10), [50, 60, 70, 80, 90, 100, 110, 120, 130, 190])
    rows = recipes.stratified_subset(y, 100, seed=0)
    assert len(set(rows)) == 100
    counts = np.bincount(y[rows], minlength=10)
    np.testing.assert_allclose(counts, np.bincount(y) / len(y) * 100, atol=1)
    np.testing.assert_array_equal(rows, recipes.stratified_subset(y, 100, seed=0))


def test_multi_hot_dense_and_sparse_agree_in_float32():
    seqs = [[1, 3, 3, 9], [], [0, 2]]
    dense = recipes.multi_hot(seqs, num_words=10)
    sparse = recipes.multi_hot(seqs, num_words=10, sparse=True)
    assert dense.dtype == np.float32 and sparse.dtype == np.float32
    np.testing.assert_array_equal(dense, sparse.toarray())
    np.testing.assert_array_equal(dense[0], [0, 1, 0, 1, 0, 0, 0, 0, 0, 1])
    assert sparse.nnz == 5


def test_multi_hot_rejects_indices_past_num_words():
    with pytest.raises(ShapeError, match="out of range"):
        recipes.multi_hot([[1, 10]], num_words=10)
