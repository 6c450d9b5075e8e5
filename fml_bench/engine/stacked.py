"""The stacked engine: S seeds of one spec trained at once in one TensorFlow graph.

Every Dense kernel and bias carries a leading seed axis; one training step gathers each
seed's own mini-batch (its own shuffle order each epoch), runs the S models as batched
matmuls, and minimises the sum of the per-seed losses, so each seed's gradient is exactly
that of an independent run. Each seed starts from the weights the reference engine would
give it (the same `seed_everything` and keras builder), uses keras' own optimizer (applied
elementwise, so stacking changes nothing), keras' own regularizers per seed slice, its own
dropout masks, and keras' `validation_split` and metric-averaging rules. Early stopping is
applied per seed afterwards with keras' rule (patience, restore best weights).

K-fold protocols stack every (seed, fold) model as one slot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import scipy.sparse
import tensorflow as tf

from fml_bench import kinds
from fml_bench.engine import bags, stacking
from fml_bench.engine.bags import BAGS_SIGNATURE, Bags, bag_sum
from fml_bench.engine.stacking import initial_models, memory_budget_bytes  # noqa: F401 (the engine's API)
from fml_bench.engine_registry import zero_channel_input
from fml_bench.experiments import ExperimentSpec
from fml_bench.protocol import compile_model
from fml_bench.records import RunRecord

ENGINE_NAME = "stacked"
EVAL_CHUNK = 8192  # validation rows per call, summed over seeds
#: The least share of the input columns a trailing all-zero block must be for the first layer to
#: skip it (`live_width`): the zero-channels recipe's half; never the few blank pixels of plain MNIST.
DEAD_TAIL_MIN_SHARE = 0.25


@dataclass
class _Dense:
    kernel: keras.Variable  # (S, fan_in, units)
    bias: keras.Variable  # (S, units)
    activation: Callable[[tf.Tensor], tf.Tensor]
    regularizer: Callable[[tf.Tensor], tf.Tensor] | None


@dataclass
class _Dropout:
    """keras' Dropout rule per seed: seed s's mask comes from seed s's own model's seed
    generator, shape (batch, units), exactly as its lone `model.fit` would draw it, so a seed's
    masks do not depend on which other seeds share its stack (stacked engine v3)."""

    rate: float
    generators: list  # keras.random.SeedGenerator per seed

    def __call__(self, h, training: bool):
        if not training or self.rate == 0:
            return h
        return tf.stack([keras.random.dropout(h[s], self.rate, seed=g) for s, g in enumerate(self.generators)])


def initial_dense_weights(layer: keras.layers.Dense, fan_in: int) -> tuple[np.ndarray, np.ndarray]:
    """A Dense layer's initial kernel and bias: its variables if it is built, else the values its
    `build` would give them. A layer's initialisers are seeded when it is made and `build` calls
    them with the kernel's and the bias' shapes; calling them here skips keras' variables and
    tracking (a model's `build` took 23 ms: 60 of the 148 s of the fast tier's iterated K-fold
    claim, 2,048 fold models, on a 2-core AMD EPYC Zen 3)."""
    if layer.built:
        return layer.kernel.numpy(), layer.bias.numpy()
    if not layer.use_bias:
        raise NotImplementedError("the stacked engine needs Dense layers with a bias")
    dtype = layer.variable_dtype
    kernel = layer.kernel_initializer((fan_in, layer.units), dtype=dtype)
    bias = layer.bias_initializer((layer.units,), dtype=dtype)
    return keras.ops.convert_to_numpy(kernel), keras.ops.convert_to_numpy(bias)


def live_width(arrays: Sequence[np.ndarray], min_share: float = DEAD_TAIL_MIN_SHARE) -> int | None:
    """The number of leading input columns that hold a non-zero value in any row of `arrays`
    (features on the last axis, all of one width), when the all-zero columns after them are at
    least `min_share` of the width; else None. The zero-channels recipe (listing 5.1) appends as
    many zero columns as there are pixels: their products with the first kernel's rows are exact
    zeros, forward and in the kernel's gradient, so the first layer can leave them out and
    compute the same sums without half its multiply-adds (the kernel keeps its full shape: its
    dead rows get a zero gradient, as in `model.fit`, and keras' optimizer still updates them)."""
    width = arrays[0].shape[-1]
    if any(x.shape[-1] != width for x in arrays):
        raise ValueError(f"inputs of different widths: {sorted({x.shape[-1] for x in arrays})}")
    live = 0
    for x in arrays:
        columns = np.flatnonzero(np.any(np.reshape(x, (-1, width)) != 0, axis=0))
        live = max(live, int(columns[-1]) + 1 if len(columns) else 0)
    return live if width - live >= min_share * width else None


class StackedNet:
    """S copies of a Dense/Dropout keras Sequential with weights stacked on axis 0; `fan_in`:
    the input width (the models need not be built)."""

    def __init__(self, models: list[keras.Model], fan_in: int):
        self.seeds = len(models)
        self.live_inputs: int | None = None  # the first layer reads only this many input columns (`live_width`)
        self.layers: list[_Dense | _Dropout] = []
        for i, layer in enumerate(models[0].layers):
            if isinstance(layer, keras.layers.Dense):
                initial = [initial_dense_weights(m.layers[i], fan_in) for m in models]
                kernel = np.stack([k for k, _ in initial])
                bias = np.stack([b for _, b in initial])
                fan_in = layer.units
                self.layers.append(_Dense(keras.Variable(kernel), keras.Variable(bias),
                                          layer.activation, layer.kernel_regularizer))
            elif isinstance(layer, keras.layers.Dropout):
                rate = float(layer.rate)  # keras makes no seed generator for a rate of 0 (a knock-out)
                self.layers.append(_Dropout(rate, [m.layers[i].seed_generator for m in models] if rate else []))
            else:
                raise NotImplementedError(f"the stacked engine has no rule for {type(layer).__name__}")

    @property
    def first(self) -> _Dense:
        """The first layer (a Dense layer in every model of the book)."""
        layer = self.layers[0]
        if not isinstance(layer, _Dense):
            raise NotImplementedError("the stacked engine needs a Dense first layer")
        return layer

    @property
    def variables(self) -> list[keras.Variable]:
        return [v for layer in self.layers if isinstance(layer, _Dense) for v in (layer.kernel, layer.bias)]

    def __call__(self, x, training: bool):
        """x: (S, B, fan_in), or (B, fan_in) shared by all seeds -> outputs (S, B, units)."""
        kernel = self.first.kernel.value
        if self.live_inputs is not None:  # x holds only the live columns: the kernel's rows for them
            kernel = kernel[:, : self.live_inputs, :]
        pattern = "bi,sio->sbo" if len(x.shape) == 2 else "sbi,sio->sbo"
        return self.rest(tf.einsum(pattern, x, kernel), training)

    def rest(self, z, training: bool):
        """The network from the first Dense layer's product z = x . kernel, (S, B, units), on:
        its bias and activation, then every later layer."""
        first = self.first
        h = first.activation(z + first.bias.value[:, None, :])
        for layer in self.layers[1:]:
            if isinstance(layer, _Dense):
                h = layer.activation(tf.einsum("sbi,sio->sbo", h, layer.kernel.value) + layer.bias.value[:, None, :])
            else:
                h = layer(h, training=training)
        return h

    def regularization(self):
        """Per-seed sum of the layers' regularization losses, shape (S,)."""
        total = tf.zeros((self.seeds,))
        for layer in self.layers:
            if isinstance(layer, _Dense) and layer.regularizer is not None:
                # keras' regularizer on each seed's kernel, traced once and vectorised over the seed
                # axis: a call per seed made imdb-16-16-l2's uncompiled bag step 2.5x slower (42.7 ms
                # for 10 seeds against 18.6); L2's records are the same to the bit, L1L2's within 1e-6
                total += tf.vectorized_map(layer.regularizer, layer.kernel.value)
        return total


def without_distribution(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """`optimizer` with its per-variable update called directly instead of through
    tf.distribute's default strategy (`extended.update` inside `maybe_merge_call`), which under
    the default strategy calls the same `update_step(gradient, variable, learning_rate)` and
    nothing else. Through that wrapper, a `tf.function` that applies the optimizer keeps every
    variable it captured alive after the trainer is gone (Keras 3.15 / TF 2.21, graph and XLA
    alike): each stack's weights and slots stayed in memory to the end of the process, and a
    book-tier run grew by gigabytes over its claims (`tests/test_stacked_engine.py` pins it).
    Clipping, weight decay and the iteration count stay keras' own (`Optimizer.apply`)."""

    def update_directly(grads, trainable_variables, learning_rate):
        for grad, variable in zip(grads, trainable_variables):
            optimizer.update_step(grad, variable.value if isinstance(variable, keras.Variable) else variable,
                                  learning_rate)

    optimizer._backend_update_step = update_directly
    return optimizer


def _loss_and_hits(spec: ExperimentSpec, y, probs):
    """Per-sample loss (S, B) and correct predictions (S, B) with keras' own functions."""
    if spec.loss == "binary_crossentropy":
        yt = tf.cast(y, probs.dtype)[..., None]
        loss = keras.losses.binary_crossentropy(yt, probs)
        hits = tf.cast(tf.cast(probs[..., 0] > 0.5, yt.dtype) == yt[..., 0], tf.float32)
    else:
        loss = keras.losses.sparse_categorical_crossentropy(y, probs)
        hits = tf.cast(tf.argmax(probs, axis=-1, output_type=tf.int64) == tf.cast(y, tf.int64), tf.float32)
    return loss, hits


class StackedTrainer(stacking.SeedStackTrainer):
    """Trains a StackedNet on per-seed (or shared) arrays with keras' fit semantics."""

    def __init__(self, spec: ExperimentSpec, net: StackedNet, x_train, y_train, x_val, y_val,
                 jit_compile: bool = True, test: tuple | None = None, fold_rows: stacking.FoldRows | None = None):
        """`fold_rows` in place of the four arrays: K-fold slots that gather their rows from shared ones."""
        self.spec, self.net = spec, net
        self.train_rows = None
        if fold_rows is not None:
            if scipy.sparse.issparse(fold_rows.x):  # K-fold prepares dense rows; the bag path has no row map
                raise NotImplementedError("the stacked engine gathers K-fold rows from dense features only")
            x_train, y_train, self.train_rows = fold_rows.x, fold_rows.y, fold_rows.train.astype(np.int32)
        self.sparse = scipy.sparse.issparse(x_train)
        if not self.sparse and fold_rows is None and zero_channel_input(spec):
            net.live_inputs = live_width([x_train, x_val, *([test[0]] if test is not None else [])])
            if net.live_inputs is not None:
                cut = net.live_inputs
                x_train, x_val = x_train[..., :cut], x_val[..., :cut]
                test = None if test is None else (test[0][..., :cut], test[1])
        self.dense_words = min(bags.DENSE_WORDS, x_train.shape[-1]) if self.sparse else 0
        if self.sparse:  # multi-hot rows: frequent words dense, the rest as bags (bags.py; SparseSegmentSum
            # has no XLA kernel)
            dense, self.x_train = bags.split_columns(x_train, self.dense_words)
            self.x_dense = tf.constant(dense)
        else:
            self.x_train = tf.constant(x_train)
        if fold_rows is not None:
            self.validation = _EvalSet(fold_rows.x, fold_rows.y[fold_rows.val], row_map=fold_rows.val)
        else:
            self.validation = _EvalSet(x_val, y_val, self.dense_words)
        self.test = _EvalSet(test[0], test[1], self.dense_words) if test is not None else None
        self.y_train = tf.constant(y_train)
        self.fan_in = x_train.shape[-1]
        self.seeds = net.seeds
        self.rows = int(self.y_train.shape[-1]) if self.train_rows is None else self.train_rows.shape[1]
        self.per_seed_x = len(x_train.shape) == 3
        self.per_seed_y = len(y_train.shape) == 2
        self.optimizer = without_distribution(compile_model(spec).optimizer)
        self.optimizer.build(net.variables)
        self._train_step = tf.function(self._train_step_impl, jit_compile=jit_compile, reduce_retracing=True)
        dense_block = tf.TensorSpec([None, self.dense_words], tf.float32)
        self._bag_train_step = tf.function(self._bag_train_step_impl, jit_compile=False, input_signature=(
            tf.TensorSpec(self.y_train.shape, self.y_train.dtype), dense_block, tf.TensorSpec([None, None], tf.int32),
            BAGS_SIGNATURE, BAGS_SIGNATURE))
        # keras' update fused by XLA inside the uncompiled bag step: 5 ms instead of 12 per seed
        # and step for the 10,000 x 512 kernel (measured, 2-core AMD EPYC)
        self._fused_apply = tf.function(self._fused_apply_impl, jit_compile=True)
        self._bag_eval_step = tf.function(self._bag_eval_step_impl, jit_compile=False, input_signature=(
            BAGS_SIGNATURE, dense_block, tf.TensorSpec([None, None], y_train.dtype)))
        self._eval_step = tf.function(self._eval_step_impl, jit_compile=jit_compile, reduce_retracing=True)
        self._eval_rows_step = tf.function(self._eval_rows_step_impl, jit_compile=jit_compile, reduce_retracing=True)
        self._train_steps = tf.function(self._train_steps_impl, jit_compile=jit_compile, reduce_retracing=True)
        self._penalty = tf.function(net.regularization)  # traced once: vectorized_map is slow eagerly

    def _gather(self, x, per_seed: bool, idx):
        return tf.gather(x, idx, batch_dims=1) if per_seed else tf.gather(x, idx)

    def _train_step_impl(self, x_train, y_train, idx):
        xb = self._gather(x_train, self.per_seed_x, idx)
        yb = self._gather(y_train, self.per_seed_y, idx)
        with tf.GradientTape() as tape:
            probs = self.net(xb, training=True)
            loss, hits = _loss_and_hits(self.spec, yb, probs)
            per_seed = tf.reduce_mean(loss, axis=1) + self.net.regularization()
            total = tf.reduce_sum(per_seed)
        grads = tape.gradient(total, [v.value for v in self.net.variables])
        self.optimizer.apply(grads, self.net.variables)
        return per_seed, tf.reduce_sum(hits, axis=1)

    def _first_kernel_table(self):
        """The first layer's stacked kernel (S, fan_in, units) as one table (S*fan_in, units)."""
        kernel = self.net.first.kernel.value
        return tf.reshape(kernel, (-1, tf.shape(kernel)[2]))

    def _dense_words_product(self, x_dense):
        """The frequent words' share of the first layer's product: x_dense (S, B, k) or (rows, k)
        shared by the seeds, times the first k kernel rows -> (S, B or rows, units)."""
        pattern = "rk,sku->sru" if len(x_dense.shape) == 2 else "sbk,sku->sbu"
        return tf.einsum(pattern, x_dense, self.net.first.kernel.value[:, : self.dense_words, :])

    def _bag_train_step_impl(self, y_train, x_dense, idx, forward: Bags, transposed: Bags):
        """One step on multi-hot rows: the first layer's product and kernel gradient as a dense
        matmul over the frequent words plus bag sums over the rest (bags.py), every other gradient
        by the tape. The same loss and update as the dense step."""
        first = self.net.first
        seeds, batch = tf.shape(idx)[0], tf.shape(idx)[1]
        xb_dense = tf.gather(x_dense, idx)
        z = tf.reshape(bag_sum(self._first_kernel_table(), forward), (seeds, batch, -1))
        z = z + self._dense_words_product(xb_dense)
        yb = self._gather(y_train, self.per_seed_y, idx)
        variables = [v.value for v in self.net.variables]
        with tf.GradientTape() as tape:
            tape.watch(z)
            probs = self.net.rest(z, training=True)
            loss, hits = _loss_and_hits(self.spec, yb, probs)
            per_seed = tf.reduce_mean(loss, axis=1) + self.net.regularization()
            total = tf.reduce_sum(per_seed)
        dz, *grads = tape.gradient(total, [z, *variables], unconnected_gradients=tf.UnconnectedGradients.ZERO)
        dkernel = tf.reshape(bag_sum(tf.reshape(dz, (seeds * batch, -1)), transposed), tf.shape(first.kernel.value))
        grads[0] = dkernel if first.regularizer is None else grads[0] + dkernel
        self._fused_apply(grads, tf.einsum("sbk,sbu->sku", xb_dense, dz))
        return per_seed, tf.reduce_sum(hits, axis=1)

    def _fused_apply_impl(self, grads, dense_words_grad):
        """keras' update of every variable, the frequent words' kernel gradient (S, k, units)
        added to the first kernel's first k rows on the way (XLA fuses both into one pass)."""
        fan_in = tf.shape(grads[0])[1]
        grads = [grads[0] + tf.pad(dense_words_grad, [[0, 0], [0, fan_in - self.dense_words], [0, 0]]), *grads[1:]]
        self.optimizer.apply(grads, self.net.variables)

    def _bag_eval_step_impl(self, rows: Bags, x_dense, yb):
        """Per-seed loss and hit sums on multi-hot rows every seed scores (the frequent words
        `x_dense` (rows, k), the rest as bags.shared_rows)."""
        seeds = self.net.seeds
        table = self._first_kernel_table()
        z = tf.reshape(bag_sum(table, rows), (seeds, -1, tf.shape(table)[1])) + self._dense_words_product(x_dense)
        yb = tf.broadcast_to(yb, (seeds, tf.shape(yb)[1]))  # labels shared by the seeds come as (1, rows)
        loss, hits = _loss_and_hits(self.spec, yb, self.net.rest(z, training=False))
        return tf.reduce_sum(loss, axis=1), tf.reduce_sum(hits, axis=1)

    def _bag_epoch(self, perm: np.ndarray) -> tuple[tf.Tensor, tf.Tensor]:
        """An epoch on multi-hot rows, step by step (the index arrays are built per step in
        NumPy); per-seed sums of batch-size-weighted losses and of hits."""
        n, b = perm.shape[1], self.spec.batch_size
        loss_sum, hit_sum = tf.zeros(self.net.seeds), tf.zeros(self.net.seeds)
        for start in range(0, n, b):
            idx = perm[:, start : start + b]
            forward, transposed = bags.stacked_rows(self.x_train, idx, self.fan_in)
            loss, hits = self._bag_train_step(self.y_train, self.x_dense, tf.constant(idx), forward, transposed)
            loss_sum += loss * idx.shape[1]
            hit_sum += hits
        return loss_sum, hit_sum

    def _train_steps_impl(self, x_train, y_train, batches):
        """All full batches of an epoch in one compiled loop; batches: (steps, S, B)."""
        seeds = self.net.seeds

        def body(step, loss_sum, hit_sum):
            loss, hits = self._train_step_impl(x_train, y_train, batches[step])
            return step + 1, loss_sum + loss, hit_sum + hits

        _, loss_sum, hit_sum = tf.while_loop(
            lambda step, *_: step < tf.shape(batches)[0], body,
            (tf.constant(0), tf.zeros(seeds), tf.zeros(seeds)),
        )
        return loss_sum, hit_sum

    def _eval_step_impl(self, xb, yb):
        if yb.shape[0] == 1:
            yb = tf.repeat(yb, self.net.seeds, axis=0)
        probs = self.net(xb, training=False)
        loss, hits = _loss_and_hits(self.spec, yb, probs)
        return tf.reduce_sum(loss, axis=1), tf.reduce_sum(hits, axis=1)

    def _eval_rows_step_impl(self, x, rows, yb):
        """The eval step on rows each seed gathers from shared ones: rows (S, chunk) into x."""
        return self._eval_step_impl(tf.gather(x, rows), yb)

    def evaluate(self, data: _EvalSet) -> tuple[np.ndarray, np.ndarray]:
        """Per-seed loss (data term only, without the weight penalty) and accuracy on `data`."""
        n = data.rows
        loss_sum = np.zeros(self.net.seeds)
        hit_sum = np.zeros(self.net.seeds)
        chunk = max(self.spec.batch_size, EVAL_CHUNK // self.net.seeds)  # sums are order-free
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            xb, yb = data.rows_between(start, stop)
            if data.csr is not None:
                loss, hits = self._bag_eval_step(bags.shared_rows(xb, self.net.seeds, self.fan_in),
                                                 data.dense[start:stop], yb)
            elif data.row_map is not None:
                loss, hits = self._eval_rows_step(data.x, tf.constant(data.row_map[:, start:stop]), yb)
            else:
                loss, hits = self._eval_step(xb, yb)
            loss_sum += loss.numpy()
            hit_sum += hits.numpy()
        return loss_sum / n, hit_sum / n

    def train_epoch(self, perm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One epoch: multi-hot rows step by step as bags, dense rows as one compiled loop over the
        full batches (and a last partial batch)."""
        if self.sparse:
            loss_sum, hit_sum = self._bag_epoch(perm)
            return loss_sum.numpy(), hit_sum.numpy()
        if self.train_rows is not None:  # positions in each slot's rows -> rows of the shared x
            perm = np.take_along_axis(self.train_rows, perm, axis=1)
        n, b = perm.shape[1], self.spec.batch_size
        full = n // b
        batches = perm[:, : full * b].reshape(len(perm), full, b).transpose(1, 0, 2)
        loss_sum, hit_sum = self._train_steps(self.x_train, self.y_train, tf.constant(batches))
        loss_sum = loss_sum * b  # keras weights each batch's loss by its size
        if n % b:
            loss, hits = self._train_step(self.x_train, self.y_train, tf.constant(perm[:, full * b :]))
            loss_sum += loss * (n % b)
            hit_sum += hits
        return loss_sum.numpy(), hit_sum.numpy()

    def penalty(self) -> np.ndarray:
        return self._penalty().numpy()


class _EvalSet:
    """Rows to score: features dense (rows, fan_in) shared or (S, rows, fan_in) per seed, or
    multi-hot rows (shared) as the first `dense_words` columns dense (`dense`) and the rest as
    CSR (`csr`, bags.split_columns), or each seed's rows `row_map` (S, rows) of a shared x;
    labels (rows,) shared or (S, rows) per seed."""

    def __init__(self, x, y, dense_words: int = 0, row_map: np.ndarray | None = None):
        self.csr: scipy.sparse.csr_matrix | None = None
        self.dense: Any = None
        self.row_map = None if row_map is None else row_map.astype(np.int32)
        if scipy.sparse.issparse(x):
            dense, self.csr = bags.split_columns(x, dense_words)
            self.dense = tf.constant(dense)
        self.x: Any = None if self.csr is not None else tf.constant(x)
        self.y = tf.constant(y)
        self.rows = int(self.y.shape[-1])

    def rows_between(self, start: int, stop: int):
        """Features and labels of rows start:stop (with a row map: the shared x whole)."""
        if self.row_map is not None:
            return self.x, self.y[:, start:stop]
        xb = self.csr[start:stop] if self.csr is not None else self.x[..., start:stop, :]
        yb = self.y[..., start:stop] if len(self.y.shape) == 2 else self.y[None, start:stop]
        return xb, yb


def max_seeds(spec: ExperimentSpec) -> int:
    """The stack's memory bound (`stacking.max_seeds`): K-fold slots gather their rows from
    shared ones here (`stacking.FoldRows`), so they hold no copies."""
    return stacking.max_seeds(spec, shared_fold_rows=True)


def use_sparse_input(spec: ExperimentSpec) -> bool:
    """IMDB's multi-hot vectors (about 1.3% ones) go in as bags of words (bags.py) at every
    layer width."""
    return kinds.multi_hot_input(spec.dataset, spec.recipe)


def make_trainer(jit_compile: bool = True) -> stacking.TrainerFactory:
    """The stacked engine's trainer factory for `stacking.train_holdout` / `train_folds`."""

    def factory(spec, models, x_train, y_train, x_val, y_val, test, fold_rows=None):
        fan_in = (x_train if fold_rows is None else fold_rows.x).shape[-1]
        return StackedTrainer(spec, StackedNet(models, fan_in), x_train, y_train, x_val, y_val,
                              jit_compile=jit_compile, test=test, fold_rows=fold_rows)

    factory.takes_fold_rows = True  # type: ignore[attr-defined]
    return factory


def run_seeds(spec: ExperimentSpec, seeds: Sequence[int], shuffle: bool = True,
              jit_compile: bool = True) -> list[RunRecord]:
    """Train `spec` for all `seeds` at once; one record per seed."""
    env = {"xla": str(jit_compile)}
    if kinds.protocol(spec.protocol).cross_validates:
        return stacking.train_folds(spec, seeds, make_trainer(jit_compile), ENGINE_NAME, env)
    return stacking.train_holdout(spec, seeds, make_trainer(jit_compile), ENGINE_NAME, env,
                                  sparse=use_sparse_input(spec), shuffle=shuffle)
