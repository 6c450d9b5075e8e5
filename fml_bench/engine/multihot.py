"""Index arrays for multi-hot rows taken as bags of kernel rows, in NumPy and SciPy only, so
that every backend's engine builds them the same way (TensorFlow's in bags.py, torch's in
vectorised_bags.py).

A review's multi-hot vector times a kernel is the sum of the kernel rows of the words it
contains; the kernel gradient X^T dZ is, for each word, the sum of the output-gradient rows of
the batch rows that contain it. Seeds stack their kernels on a leading axis, so seed s's kernel
occupies table rows [s*width, (s+1)*width) of the kernels reshaped to (S*width, units). A bag
list is CSR-shaped: output row r sums table rows table_rows[indptr[r]:indptr[r+1]], in that order.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse


class BagList(NamedTuple):
    """Output row r sums table rows `table_rows[indptr[r]:indptr[r+1]]` (`indptr` has one more
    entry than there are output rows; an empty bag sums to zero)."""

    indptr: np.ndarray
    table_rows: np.ndarray


def stacked_batch(csr: scipy.sparse.csr_matrix, rows: np.ndarray, width: int) -> tuple[BagList, BagList]:
    """The forward and the transposed bags of one training step.

    rows: (S, B) the batch rows of each seed. Forward: output row s*B + i sums seed s's kernel
    rows of the words in review rows[s, i]. Transposed: output row s*width + j sums the rows
    s*B + i of dZ (S*B, units) whose review contains word j, i.e. seed s's kernel gradient."""
    seeds, batch = rows.shape
    picked = csr[rows.reshape(-1)]
    owner = np.repeat(np.arange(seeds * batch, dtype=np.int64) // batch, np.diff(picked.indptr))
    index = picked.indices.astype(np.int64) + owner * width
    block = scipy.sparse.csr_matrix((np.ones(len(index), np.float32), index, picked.indptr),
                                    shape=(seeds * batch, seeds * width))
    transposed = block.tocsc()  # column j's rows, in row order (scipy's O(nnz) counting transpose)
    return (BagList(picked.indptr.astype(np.int64), index),
            BagList(transposed.indptr.astype(np.int64), transposed.indices.astype(np.int64)))


def shared(csr: scipy.sparse.csr_matrix, seeds: int, width: int) -> BagList:
    """Forward bags of rows every seed scores (validation, test): output row s*R + r sums seed
    s's kernel rows of the words in review r."""
    lengths = np.tile(np.diff(csr.indptr), seeds)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    index = np.tile(csr.indices.astype(np.int64), seeds) + np.repeat(np.arange(seeds, dtype=np.int64) * width,
                                                                      csr.nnz)
    assert len(indptr) == seeds * csr.shape[0] + 1
    return BagList(indptr, index)


def split_columns(csr: scipy.sparse.csr_matrix, dense_words: int) -> tuple[np.ndarray, scipy.sparse.csr_matrix]:
    """The first `dense_words` columns of `csr` as a dense float32 block (rows, dense_words), and
    the rest as a CSR matrix of the full width (its column indices unchanged, so it indexes the
    same kernel rows; the first `dense_words` kernel rows get no bag)."""
    csr = csr.tocsr()
    dense = csr[:, :dense_words].toarray().astype(np.float32)
    rest = csr[:, dense_words:].tocsr()
    rest.sort_indices()
    return dense, scipy.sparse.csr_matrix((rest.data, rest.indices + dense_words, rest.indptr), shape=csr.shape)
