"""Multi-hot input as bags of rows: the first Dense layer on IMDB without multiplying by zeros.

A review's multi-hot vector (Listing 4.3's `vectorize_sequences`, 10,000 words, about 1.3% ones)
times a kernel is the sum of the kernel rows of the words it contains. So the first layer's
product is a segmented sum of gathered kernel rows (an "embedding bag"), and its kernel
gradient X^T dZ is the same sum transposed: for each word, the sum of the output gradients of
the batch rows that contain it. Both are one `SparseSegmentSum` each over index arrays built
here in NumPy (the transpose by scipy's CSR-to-CSC conversion, so no sort runs in the graph).

TensorFlow's CPU kernel for that op runs on one thread, so every sum is cut in two halves at a
segment boundary and the halves run concurrently (inter-op parallelism). Each output row is
summed in index order by one kernel, so the numbers do not depend on the cut or the thread
schedule: a run is bit-reproducible.

Measured on a 2-core AMD EPYC, batch 512, 10,000 x 512 kernel, per seed and step: the dense
product 12.9 ms and its kernel gradient 13.5 ms under XLA; the bag sums 4.4 ms and 6.5 ms (two
halves; 6.3 and 8.9 ms on one thread). keras' RMSprop update of the dense kernel, compiled by
XLA, is 5 ms more. The whole book-scale imdb-512-512 epoch: 1.31 s a seed dense, 0.49 s as bags.

The most frequent words are not sparse: "the", "and", "a" are in almost every review, and
keras' IMDB word indices are frequency ranks, so the first `DENSE_WORDS` columns hold about
half the ones at a density of 25% (book scale: 49.4% of 3.3 million). Those columns go through
a dense matmul (`split_columns`: a (rows, DENSE_WORDS) block, its product and kernel gradient as
batched matmuls), the rest as bags. Measured side by side (book scale, 10 seeds, first layer's
product and kernel gradient per seed and step, 2-core AMD EPYC under load): every word as bags
12.3 ms (+0.8 ms building the index arrays); the 128 most frequent words dense 10.9; 256 8.8
(+0.4); 512 10.2; 1024 10.9. Whole epochs per seed on a quiet machine
(`benchmarks/engine_speed.py --first-layer`, book scale, 10 seeds), dense matmul / every word as
bags / 256 words dense and the rest as bags: imdb-4-4 0.086 / 0.064 / 0.044 s, imdb-16-16
0.111 / 0.069 / 0.056 s, imdb-512-512 1.275 / 0.454 / 0.462 s (best of three rounds; for the
512-unit model the two bag routes are within their round-to-round spread, 2.8x the dense matmul).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse
import tensorflow as tf

from fml_bench.engine import multihot

#: The most frequent words (the lowest word indices), taken as a dense block (see the module doc).
DENSE_WORDS = 256


class Bags(NamedTuple):
    """Index arrays of one segmented sum: output row `segment[i]` adds table row `index[i]`.

    `segment` is sorted; `cut` is the position where the second half of the work starts and
    `cut_segment` its first output row; `segments` is the number of output rows."""

    index: tf.Tensor
    segment: tf.Tensor
    cut: tf.Tensor
    cut_segment: tf.Tensor
    segments: tf.Tensor


BAGS_SIGNATURE = Bags(*(tf.TensorSpec([None], tf.int32) for _ in range(2)),
                      *(tf.TensorSpec([], tf.int32) for _ in range(3)))


def bags_from_csr(indptr: np.ndarray, index: np.ndarray) -> Bags:
    """Bags whose output row r sums table rows index[indptr[r]:indptr[r+1]]."""
    segments = len(indptr) - 1
    segment = np.repeat(np.arange(segments, dtype=np.int32), np.diff(indptr))
    cut_segment = segments // 2
    return Bags(tf.constant(index, tf.int32), tf.constant(segment), tf.constant(int(indptr[cut_segment]), tf.int32),
                tf.constant(cut_segment, tf.int32), tf.constant(segments, tf.int32))


def stacked_rows(csr: scipy.sparse.csr_matrix, rows: np.ndarray, width: int) -> tuple[Bags, Bags]:
    """The forward and the transposed bags of a training step (`multihot.stacked_batch`)."""
    forward, transposed = multihot.stacked_batch(csr, rows, width)
    return bags_from_csr(*forward), bags_from_csr(*transposed)


def shared_rows(csr: scipy.sparse.csr_matrix, seeds: int, width: int) -> Bags:
    """Forward bags of rows every seed scores (validation, test; `multihot.shared`)."""
    return bags_from_csr(*multihot.shared(csr, seeds, width))


def bag_sum(table: tf.Tensor, bags: Bags) -> tf.Tensor:
    """(bags.segments, units): each output row the sum of its table rows, in two concurrent halves."""
    first = tf.sparse.segment_sum(table, bags.index[: bags.cut], bags.segment[: bags.cut],
                                  num_segments=bags.cut_segment)
    second = tf.sparse.segment_sum(table, bags.index[bags.cut :], bags.segment[bags.cut :] - bags.cut_segment,
                                   num_segments=bags.segments - bags.cut_segment)
    return tf.concat([first, second], axis=0)


split_columns = multihot.split_columns
