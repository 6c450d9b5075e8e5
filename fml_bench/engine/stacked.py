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

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import scipy.sparse
import tensorflow as tf

from fml_bench import kinds, options
from fml_bench.engine import bags, report_epoch
from fml_bench.engine.bags import BAGS_SIGNATURE, Bags, bag_sum
from fml_bench.env import manifest
from fml_bench.experiments import ExperimentSpec
from fml_bench.inputs import prepare, prepare_test, validation_start
from fml_bench.models import build
from fml_bench.protocol import (
    PENALTY,
    compile_model,
    early_stopping_epochs,
    holdout_scalars,
    kfold_scalars,
    validation_folds,
)
from fml_bench.records import RunRecord
from fml_bench.seeding import seed_everything, stream

ENGINE_NAME = "stacked"
EVAL_CHUNK = 8192  # validation rows per call, summed over seeds
STACK_MEMORY_GB = 8.0  # the most a stack takes by default, on a machine with room for it
STACK_MEMORY_SHARE = 0.4  # and at most this share of the machine's physical memory (TensorFlow, data and
# the other core's work need the rest: a 7 GB hosted runner gets a 2.8 GB budget, not 8)
# The bytes a stack keeps per input float: the slot arrays, their stacked copy, the TensorFlow
# constant and XLA's buffers (measured: 256 seeds of iterated 3x4-fold on 500 images took 20 GB, 81 MB a seed).
COPIES = 5
MAX_SEEDS_PER_STACK = 512


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


def initial_models(spec: ExperimentSpec, seeds: Sequence[int], input_dim: int | None) -> list[keras.Model]:
    """The per-seed keras models as the reference engine would initialise them (built now if
    `input_dim` is given; the initialisers' seeds are fixed when the layers are created)."""
    models = []
    for seed in seeds:
        seed_everything(seed)
        model = build(spec.model, dict(spec.model_options))
        if input_dim is not None:
            model.build((None, input_dim))
        models.append(model)
    return models


class StackedNet:
    """S copies of a Dense/Dropout keras Sequential with weights stacked on axis 0."""

    def __init__(self, models: list[keras.Model]):
        self.seeds = len(models)
        self.layers: list[_Dense | _Dropout] = []
        for i, layer in enumerate(models[0].layers):
            if isinstance(layer, keras.layers.Dense):
                kernel = np.stack([m.layers[i].kernel.numpy() for m in models])
                bias = np.stack([m.layers[i].bias.numpy() for m in models])
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
        first = self.first
        pattern = "bi,sio->sbo" if len(x.shape) == 2 else "sbi,sio->sbo"
        return self.rest(tf.einsum(pattern, x, first.kernel.value), training)

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
                total += tf.stack([layer.regularizer(layer.kernel.value[s]) for s in range(self.seeds)])
        return total


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


class StackedTrainer:
    """Trains a StackedNet on per-seed (or shared) arrays with keras' fit semantics."""

    def __init__(self, spec: ExperimentSpec, net: StackedNet, x_train, y_train, x_val, y_val,
                 jit_compile: bool = True, test: tuple | None = None):
        self.spec, self.net = spec, net
        self.sparse = scipy.sparse.issparse(x_train)
        if self.sparse:  # multi-hot rows as bags (bags.py); SparseSegmentSum has no XLA kernel
            self.x_train = x_train.tocsr()
            self.x_train.sort_indices()
        else:
            self.x_train = tf.constant(x_train)
        self.validation = _EvalSet(x_val, y_val)
        self.test = _EvalSet(*test) if test is not None else None
        self.y_train = tf.constant(y_train)
        self.fan_in = x_train.shape[-1]
        self.per_seed_x = len(x_train.shape) == 3
        self.per_seed_y = len(y_train.shape) == 2
        self.optimizer = compile_model(spec).optimizer
        self.optimizer.build(net.variables)
        self._train_step = tf.function(self._train_step_impl, jit_compile=jit_compile, reduce_retracing=True)
        self._bag_train_step = tf.function(self._bag_train_step_impl, jit_compile=False, input_signature=(
            tf.TensorSpec([None, None], tf.int32), BAGS_SIGNATURE, BAGS_SIGNATURE))
        # keras' update fused by XLA inside the uncompiled bag step: 5 ms instead of 12 per seed
        # and step for the 10,000 x 512 kernel (measured, 2-core AMD EPYC)
        self._fused_apply = tf.function(lambda grads: self.optimizer.apply(grads, self.net.variables),
                                        jit_compile=True)
        self._bag_eval_step = tf.function(self._bag_eval_step_impl, jit_compile=False, input_signature=(
            BAGS_SIGNATURE, tf.TensorSpec([None, None], y_train.dtype)))
        self._eval_step = tf.function(self._eval_step_impl, jit_compile=jit_compile, reduce_retracing=True)
        self._train_steps = tf.function(self._train_steps_impl, jit_compile=jit_compile, reduce_retracing=True)

    def _gather(self, x, per_seed: bool, idx):
        return tf.gather(x, idx, batch_dims=1) if per_seed else tf.gather(x, idx)

    def _train_step_impl(self, idx):
        xb = self._gather(self.x_train, self.per_seed_x, idx)
        yb = self._gather(self.y_train, self.per_seed_y, idx)
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

    def _bag_train_step_impl(self, idx, forward: Bags, transposed: Bags):
        """One step on multi-hot rows: the first layer's product and kernel gradient as bag sums
        (bags.py), every other gradient by the tape. The same loss and update as the dense step."""
        first = self.net.first
        seeds, batch = tf.shape(idx)[0], tf.shape(idx)[1]
        z = tf.reshape(bag_sum(self._first_kernel_table(), forward), (seeds, batch, -1))
        yb = self._gather(self.y_train, self.per_seed_y, idx)
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
        self._fused_apply(grads)
        return per_seed, tf.reduce_sum(hits, axis=1)

    def _bag_eval_step_impl(self, rows: Bags, yb):
        """Per-seed loss and hit sums on multi-hot rows every seed scores (bags.shared_rows)."""
        seeds = self.net.seeds
        table = self._first_kernel_table()
        z = tf.reshape(bag_sum(table, rows), (seeds, -1, tf.shape(table)[1]))
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
            loss, hits = self._bag_train_step(tf.constant(idx), forward, transposed)
            loss_sum += loss * idx.shape[1]
            hit_sum += hits
        return loss_sum, hit_sum

    def _train_steps_impl(self, batches):
        """All full batches of an epoch in one compiled loop; batches: (steps, S, B)."""
        seeds = self.net.seeds

        def body(step, loss_sum, hit_sum):
            loss, hits = self._train_step_impl(batches[step])
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

    def evaluate(self, data: _EvalSet) -> tuple[np.ndarray, np.ndarray]:
        """Per-seed loss (data term only, without the weight penalty) and accuracy on `data`."""
        n = data.rows
        loss_sum = np.zeros(self.net.seeds)
        hit_sum = np.zeros(self.net.seeds)
        chunk = max(self.spec.batch_size, EVAL_CHUNK // self.net.seeds)  # sums are order-free
        for start in range(0, n, chunk):
            xb, yb = data.rows_between(start, min(n, start + chunk))
            if data.csr is not None:
                loss, hits = self._bag_eval_step(bags.shared_rows(xb, self.net.seeds, self.fan_in), yb)
            else:
                loss, hits = self._eval_step(xb, yb)
            loss_sum += loss.numpy()
            hit_sum += hits.numpy()
        return loss_sum / n, hit_sum / n

    def fit(self, seeds: Sequence[int], shuffle: bool = True, test_every_epoch: bool = False):
        """Train all epochs; returns per-seed histories {key: (S, epochs)} and epoch times.

        Validation loss includes the weight penalty (keras' rule); `penalty` is that term.
        With `test_every_epoch`, `test_loss`/`test_accuracy` curves score the test set too."""
        n = int(self.y_train.shape[-1])
        b = self.spec.batch_size
        history: dict[str, list] = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy", PENALTY)}
        if test_every_epoch:
            history.update(test_loss=[], test_accuracy=[])
        seconds = []
        orders = [stream(s, "batch-order") for s in seeds]
        for _ in range(self.spec.epochs):
            start = time.perf_counter()
            perm = np.stack([rng.permutation(n) if shuffle else np.arange(n) for rng in orders]).astype(np.int32)
            if self.sparse:
                loss_sum, hit_sum = self._bag_epoch(perm)
            else:
                full = n // b
                batches = perm[:, : full * b].reshape(len(seeds), full, b).transpose(1, 0, 2)
                loss_sum, hit_sum = self._train_steps(tf.constant(batches))
                loss_sum = loss_sum * b  # keras weights each batch's loss by its size
                if n % b:
                    loss, hits = self._train_step(tf.constant(perm[:, full * b :]))
                    loss_sum += loss * (n % b)
                    hit_sum += hits
            penalty = self.net.regularization().numpy()
            val_loss, val_acc = self.evaluate(self.validation)
            history["loss"].append(loss_sum.numpy() / n)
            history["accuracy"].append(hit_sum.numpy() / n)
            history["val_loss"].append(val_loss + penalty)
            history["val_accuracy"].append(val_acc)
            history[PENALTY].append(penalty)
            if test_every_epoch and self.test is not None:
                test_loss, test_acc = self.evaluate(self.test)
                history["test_loss"].append(test_loss + penalty)
                history["test_accuracy"].append(test_acc)
            seconds.append(time.perf_counter() - start)
            report_epoch(len(seconds), self.spec.epochs,
                         {"val_loss": float(np.mean(val_loss + penalty)), "seeds": len(seeds)})
        return {k: np.stack(v, axis=1) for k, v in history.items()}, seconds


class _EvalSet:
    """Rows to score: features dense (rows, fan_in) shared or (S, rows, fan_in) per seed, or a
    CSR matrix (shared); labels (rows,) shared or (S, rows) per seed."""

    def __init__(self, x, y):
        self.csr = x.tocsr() if scipy.sparse.issparse(x) else None
        self.x = None if self.csr is not None else tf.constant(x)
        self.y = tf.constant(y)
        self.rows = int(self.y.shape[-1])

    def rows_between(self, start: int, stop: int):
        xb = self.csr[start:stop] if self.csr is not None else self.x[..., start:stop, :]
        yb = self.y[..., start:stop] if len(self.y.shape) == 2 else self.y[None, start:stop]
        return xb, yb


def use_sparse_input(spec: ExperimentSpec) -> bool:
    """IMDB's multi-hot vectors (about 1.3% ones) go in as bags of words (bags.py) at every
    layer width."""
    return kinds.multi_hot_input(spec.dataset, spec.recipe)


def _stack_data(spec: ExperimentSpec, seeds: Sequence[int], sparse: bool = False):
    """Per-seed inputs, shared when the recipe does not depend on the seed."""
    if sparse:
        return prepare(spec, seeds[0], sparse=True)
    pairs = [prepare(spec, s) for s in seeds]
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    shared_x = all(x is xs[0] or np.array_equal(x, xs[0]) for x in xs[1:])
    shared_y = all(np.array_equal(y, ys[0]) for y in ys[1:])
    x = xs[0] if shared_x else np.stack(xs)
    y = ys[0] if shared_y else np.stack(ys)
    return x, y


def per_seed_bytes(spec: ExperimentSpec) -> int:
    """Bytes one more seed adds to a stack: its weights with their gradients and optimizer
    slots, plus its own input rows where seeds do not share them (the noise recipe: one copy;
    K-fold protocols: one copy per fold model). Plain, zero-channel and label recipes and IMDB
    share one input among all seeds."""
    data, recipe, protocol = kinds.dataset(spec.dataset), kinds.recipe(spec.recipe), kinds.protocol(spec.protocol)
    features = data.input_width(spec.num_words) * recipe.width_factor
    model = build(spec.model, dict(spec.model_options))
    model.build((None, features))
    slots = protocol.models_per_run(spec.folds, spec.repeats)
    weights = model.count_params() * 4 * 4 * slots
    if data.multi_hot:
        return weights
    rows = spec.train_size or data.rows
    if protocol.cross_validates:
        copies = slots
    elif recipe.inputs_per_seed:
        copies = 1
    else:
        return weights
    return weights + rows * features * 4 * copies * COPIES


CGROUP_LIMIT_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def machine_memory_bytes() -> float | None:
    """The memory this process may use: the physical memory, or a container's (cgroup v2 or v1)
    limit when that is smaller (a container sees the host's physical memory in sysconf)."""
    try:
        memory = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None
    for path in CGROUP_LIMIT_FILES:
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():  # "max" means no limit
            memory = min(memory, float(text))
    return memory


def memory_budget_bytes() -> float:
    """The stack budget: $FML_BENCH_STACK_GB when set, else the smaller of 8 GB and 40% of the
    machine's memory (`machine_memory_bytes`: the rest is headroom for TensorFlow, the data and
    the other core's work)."""
    value = options.stack_memory_gb()
    if value is not None:
        return value * 1e9
    memory = machine_memory_bytes()
    if memory is None:
        return STACK_MEMORY_GB * 1e9
    return min(STACK_MEMORY_GB * 1e9, STACK_MEMORY_SHARE * memory)


def max_seeds(spec: ExperimentSpec) -> int:
    """How many seeds of `spec` one stack may train within the memory budget
    (`memory_budget_bytes`). A seed's numbers do not depend on its stack-mates, so the split
    changes no record, only how the work is batched."""
    budget = memory_budget_bytes()
    return max(1, min(MAX_SEEDS_PER_STACK, int(budget // per_seed_bytes(spec))))


def run_seeds(spec: ExperimentSpec, seeds: Sequence[int], shuffle: bool = True,
              jit_compile: bool = True) -> list[RunRecord]:
    """Train `spec` for all `seeds` at once; one record per seed."""
    if kinds.protocol(spec.protocol).cross_validates:
        return _cross_validate(spec, list(seeds), jit_compile)
    start = time.perf_counter()
    seeds = list(seeds)
    models = initial_models(spec, seeds, None)
    x, y = _stack_data(spec, seeds, use_sparse_input(spec))
    n = y.shape[-1]
    cut = validation_start(spec, n)
    x_train, x_val = (x[:cut], x[cut:]) if scipy.sparse.issparse(x) else (x[..., :cut, :], x[..., cut:, :])
    y_train, y_val = y[..., :cut], y[..., cut:]
    for model in models:
        model.build((None, x.shape[-1]))
    net = StackedNet(models)
    stops_early = spec.early_stopping_patience is not None
    test = prepare_test(spec, sparse=scipy.sparse.issparse(x)) if spec.evaluate_test else None
    trainer = StackedTrainer(spec, net, x_train, y_train, x_val, y_val, jit_compile=jit_compile, test=test)
    history, seconds = trainer.fit(seeds, shuffle=shuffle, test_every_epoch=stops_early and test is not None)
    if trainer.test is not None and not stops_early:
        test_loss, test_acc = trainer.evaluate(trainer.test)
        test_loss = test_loss + history[PENALTY][:, -1]
    wall = (time.perf_counter() - start) / len(seeds)
    records = []
    for i, seed in enumerate(seeds):
        test_curves = {k: history[k][i] for k in ("test_loss", "test_accuracy") if k in history}
        curves = {k: v[i].tolist() for k, v in history.items() if k not in test_curves}
        train_labels = y_train[i] if y_train.ndim == 2 else y_train
        val_labels = y_val[i] if y_val.ndim == 2 else y_val
        restored = scored = None
        if spec.early_stopping_patience is not None:  # stops_early
            ran, best = early_stopping_epochs(history["val_loss"][i], spec.early_stopping_patience)
            curves = {k: v[:ran] for k, v in curves.items()}
            restored = (history["val_loss"][i][best], history["val_accuracy"][i][best], ran)
            if test_curves:
                scored = (test_curves["test_loss"][best], test_curves["test_accuracy"][best])
        elif test is not None:
            scored = (test_loss[i], test_acc[i])
        extra = holdout_scalars(train_labels, val_labels, restored, scored)
        records.append(RunRecord(
            spec_name=spec.name, spec_hash=spec.content_hash(), seed=seed, engine=ENGINE_NAME, history=curves,
            epoch_seconds=[s / len(seeds) for s in seconds][: len(curves["loss"])], wall_seconds=wall,
            env={**manifest(), "stacked_seeds": str(len(seeds)), "xla": str(jit_compile)}, extra=extra,
        ))
    return records


def _cross_validate(spec: ExperimentSpec, seeds: list[int], jit_compile: bool) -> list[RunRecord]:
    """K-fold protocols: every (seed, fold) model is one slot of a stack.

    Folds of unequal size (rows not divisible by K) cannot share one stack: the slots are
    grouped by fold size and each group trains as its own stack. A slot's run depends only on
    its own seed streams, so the grouping changes no number.
    """
    start = time.perf_counter()
    slots: list[_FoldSlot] = []
    for seed in seeds:
        x, y = prepare(spec, seed)
        seed_everything(seed)
        for k, held_out in enumerate(validation_folds(len(y), spec, seed)):
            mask = np.zeros(len(y), bool)
            mask[held_out] = True
            model = build(spec.model, dict(spec.model_options))
            model.build((None, x.shape[-1]))
            slots.append(_FoldSlot(seed, seed * 1000 + k, model, x[~mask], y[~mask], x[mask], y[mask]))
    histories: dict[str, np.ndarray] = {}
    order: list[_FoldSlot] = []
    seconds = np.zeros(spec.epochs)
    fold_sizes = sorted({len(s.y_val) for s in slots})
    for size in fold_sizes:
        group = [s for s in slots if len(s.y_val) == size]
        trainer = StackedTrainer(spec, StackedNet([s.model for s in group]), np.stack([s.x_train for s in group]),
                                 np.stack([s.y_train for s in group]), np.stack([s.x_val for s in group]),
                                 np.stack([s.y_val for s in group]), jit_compile=jit_compile)
        history, group_seconds = trainer.fit([s.slot for s in group])
        for key, values in history.items():
            histories[key] = values if key not in histories else np.concatenate([histories[key], values])
        order.extend(group)
        seconds += np.asarray(group_seconds)
    wall = (time.perf_counter() - start) / len(seeds)
    records = []
    for seed in seeds:
        rows = [i for i, s in enumerate(order) if s.seed == seed]
        curves = {k: v[rows].mean(axis=0).tolist() for k, v in histories.items()}
        extra = kfold_scalars(histories["val_accuracy"][rows, -1], histories["val_loss"][rows, -1])
        records.append(RunRecord(
            spec_name=spec.name, spec_hash=spec.content_hash(), seed=seed, engine=ENGINE_NAME, history=curves,
            epoch_seconds=[s / len(seeds) for s in seconds], wall_seconds=wall,
            env={**manifest(), "stacked_seeds": str(len(slots)), "xla": str(jit_compile),
                 "stacks": str(len(fold_sizes))}, extra=extra,
        ))
    return records


@dataclass
class _FoldSlot:
    """One (seed, fold) model of a K-fold protocol with its training and held-out rows."""

    seed: int
    slot: int  # seed * 1000 + fold: the key of its batch-order stream
    model: keras.Model
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
