"""The bag sums (engine/bags.py) are the first Dense layer's product and kernel gradient on
multi-hot rows: checked against the dense matrix arithmetic they replace."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import tensorflow as tf

from fml_bench.engine import bags

WIDTH, UNITS = 40, 6


@pytest.fixture
def multi_hot():
    rng = np.random.default_rng(0)
    x = (rng.random((30, WIDTH)) < 0.15).astype(np.float32)
    x[3] = 0  # a review with no word of the vocabulary sums to zero
    return x, scipy.sparse.csr_matrix(x)


@pytest.mark.parametrize("seeds", [1, 3])
def test_training_bags_are_the_product_and_its_kernel_gradient(multi_hot, seeds):
    x, csr = multi_hot
    rng = np.random.default_rng(1)
    rows = np.stack([rng.permutation(30)[:7] for _ in range(seeds)])
    kernel = rng.normal(size=(seeds, WIDTH, UNITS)).astype(np.float32)
    dz = rng.normal(size=(seeds, 7, UNITS)).astype(np.float32)
    forward, transposed = bags.stacked_rows(csr, rows, WIDTH)
    product = bags.bag_sum(tf.constant(kernel.reshape(-1, UNITS)), forward).numpy().reshape(seeds, 7, UNITS)
    gradient = bags.bag_sum(tf.constant(dz.reshape(-1, UNITS)), transposed).numpy().reshape(seeds, WIDTH, UNITS)
    for s in range(seeds):
        np.testing.assert_allclose(product[s], x[rows[s]] @ kernel[s], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(gradient[s], x[rows[s]].T @ dz[s], rtol=1e-5, atol=1e-6)


def test_shared_rows_score_every_seed_on_the_same_reviews(multi_hot):
    x, csr = multi_hot
    kernel = np.random.default_rng(2).normal(size=(2, WIDTH, UNITS)).astype(np.float32)
    out = bags.bag_sum(tf.constant(kernel.reshape(-1, UNITS)), bags.shared_rows(csr[5:17], 2, WIDTH))
    np.testing.assert_allclose(out.numpy().reshape(2, 12, UNITS), np.einsum("ri,sio->sro", x[5:17], kernel),
                               rtol=1e-5, atol=1e-6)


def test_the_two_halves_cut_at_a_segment_boundary(multi_hot):
    _, csr = multi_hot
    forward, _ = bags.stacked_rows(csr, np.arange(10)[None, :], WIDTH)
    cut, cut_segment = int(forward.cut), int(forward.cut_segment)
    segment = forward.segment.numpy()
    assert cut_segment == 5 and (segment[:cut] < 5).all() and (segment[cut:] >= 5).all()


def test_frequent_words_dense_and_the_rest_as_bags_are_the_product_and_its_gradient(multi_hot):
    x, csr = multi_hot
    dense, rest = bags.split_columns(csr, 10)
    np.testing.assert_array_equal(dense, x[:, :10])
    assert rest.shape == csr.shape and rest.indices.min() >= 10
    np.testing.assert_array_equal(dense @ np.eye(10, WIDTH) + rest.toarray(), x)
    rng = np.random.default_rng(3)
    rows = rng.permutation(30)[:7][None, :]
    kernel = rng.normal(size=(1, WIDTH, UNITS)).astype(np.float32)
    dz = rng.normal(size=(1, 7, UNITS)).astype(np.float32)
    forward, transposed = bags.stacked_rows(rest, rows, WIDTH)
    product = bags.bag_sum(tf.constant(kernel.reshape(-1, UNITS)), forward).numpy() + dense[rows[0]] @ kernel[0, :10]
    gradient = bags.bag_sum(tf.constant(dz.reshape(-1, UNITS)), transposed).numpy()
    gradient[:10] += dense[rows[0]].T @ dz[0]
    np.testing.assert_allclose(product, x[rows[0]] @ kernel[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gradient, x[rows[0]].T @ dz[0], rtol=1e-5, atol=1e-6)
