"""What every seed-stacking engine shares, whatever computes its steps: each seed's initial
model as the reference engine builds it, its inputs, its own shuffle order every epoch, keras'
validation split, metric-averaging and early-stopping rules, K-fold slots, the records, and
the memory budget that bounds a stack.

An engine supplies a `SeedStackTrainer` (one epoch of training and the scoring of rows for all
seeds at once): the TensorFlow graph of the stacked engine (`stacked.py`), or Keras' stateless
API vectorised with jax.vmap (`vectorised.py`). No TensorFlow, jax or torch import here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import scipy.sparse

from fml_bench import kinds, options, parallel
from fml_bench import memory as machine_memory
from fml_bench.engine import report_epoch
from fml_bench.env import manifest
from fml_bench.experiments import ExperimentSpec
from fml_bench.inputs import prepare, prepare_test, validation_start
from fml_bench.models import build
from fml_bench.protocol import PENALTY, early_stopping_epochs, holdout_scalars, kfold_scalars, validation_folds
from fml_bench.records import RunRecord
from fml_bench.seeding import seed_everything, stream

STACK_MEMORY_GB = 8.0  # the most a stack takes by default, on a machine with room for it
# and at most this share of the machine's physical memory (TensorFlow, data and the other core's
# work need the rest: a 7 GB hosted runner gets a 2.8 GB budget, not 8)
STACK_MEMORY_SHARE = parallel.STACK_SHARE
# The bytes a stack keeps per input float: the slot arrays, their stacked copy, the TensorFlow
# constant and XLA's buffers (measured: 256 seeds of iterated 3x4-fold on 500 images took 20 GB, 81 MB a seed).
COPIES = 5
MAX_SEEDS_PER_STACK = 512


def initial_models(spec: ExperimentSpec, seeds: Sequence[int], input_dim: int | None) -> list[keras.Model]:
    """The per-seed keras models as the reference engine would initialise them (built now if
    `input_dim` is given, else by the trainer: the initialisers' seeds are fixed when the layers
    are created)."""
    models = []
    for seed in seeds:
        seed_everything(seed)
        model = build(spec.model, dict(spec.model_options))
        if input_dim is not None:
            model.build((None, input_dim))
        models.append(model)
    return models


def build_models(models: Sequence[keras.Model], input_dim: int) -> None:
    """Build the models not built yet (their weights are the same whenever they are built: a
    layer's initialisers are seeded when it is made). The stacked engine needs no keras
    variables per seed and calls the initialisers itself (stacked.initial_dense_weights)."""
    for model in models:
        if not model.built:
            model.build((None, input_dim))


class SeedStackTrainer:
    """Trains S models of one spec at once with keras' fit semantics; an engine subclasses it.

    A subclass sets `spec`, `seeds` (S), `rows` (training rows), `validation` and `test` (its own
    row sets, or None) and implements `train_epoch`, `evaluate` and `penalty`; `fit` is shared.
    """

    spec: ExperimentSpec
    seeds: int
    rows: int
    validation: Any
    test: Any = None

    def train_epoch(self, perm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One epoch over the rows in each seed's order `perm` (S, rows): per-seed sums of the
        batch-size-weighted training loss (penalty included) and of correct predictions."""
        raise NotImplementedError

    def evaluate(self, data: Any) -> tuple[np.ndarray, np.ndarray]:
        """Per-seed loss (data term only, without the weight penalty) and accuracy on `data`."""
        raise NotImplementedError

    def penalty(self) -> np.ndarray:
        """Per-seed weight penalty (the regularizers' sum) now, shape (S,)."""
        raise NotImplementedError

    def fit(self, seeds: Sequence[int], shuffle: bool = True, test_every_epoch: bool = False):
        """Train all epochs; returns per-seed histories {key: (S, epochs)} and epoch times.

        Each seed (or K-fold slot) shuffles with its own "batch-order" stream. Validation loss
        includes the weight penalty (keras' rule); `penalty` is that term. With
        `test_every_epoch`, `test_loss`/`test_accuracy` curves score the test set too."""
        n = self.rows
        history: dict[str, list] = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy", PENALTY)}
        if test_every_epoch:
            history.update(test_loss=[], test_accuracy=[])
        seconds = []
        orders = [stream(s, "batch-order") for s in seeds]
        for _ in range(self.spec.epochs):
            start = time.perf_counter()
            perm = np.stack([rng.permutation(n) if shuffle else np.arange(n) for rng in orders]).astype(np.int32)
            loss_sum, hit_sum = self.train_epoch(perm)
            penalty = self.penalty()
            val_loss, val_acc = self.evaluate(self.validation)
            history["loss"].append(loss_sum / n)
            history["accuracy"].append(hit_sum / n)
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


#: make_trainer(spec, models, x_train, y_train, x_val, y_val, test) -> a trainer of those models;
#: arrays are shared (rows, ...) or per model (S, rows, ...); test is (x, y) or None.
TrainerFactory = Callable[..., SeedStackTrainer]


def stack_data(spec: ExperimentSpec, seeds: Sequence[int], sparse: bool = False):
    """Per-seed inputs, shared when the recipe does not depend on the seed; `sparse`: IMDB's
    multi-hot rows as one shared CSR matrix."""
    if sparse:
        return prepare(spec, seeds[0], sparse=True)
    pairs = [prepare(spec, s) for s in seeds]
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    shared_x = all(x is xs[0] or np.array_equal(x, xs[0]) for x in xs[1:])
    shared_y = all(np.array_equal(y, ys[0]) for y in ys[1:])
    x = xs[0] if shared_x else np.stack(xs)
    y = ys[0] if shared_y else np.stack(ys)
    return x, y


def per_seed_bytes(spec: ExperimentSpec, shared_fold_rows: bool = False) -> int:
    """Bytes one more seed adds to a stack: its weights with their gradients and optimizer
    slots, plus its own input rows where seeds do not share them (the noise recipe: one copy;
    K-fold protocols: one copy per fold model, or with `shared_fold_rows` (the stacked engine,
    `FoldRows`) only the rows each fold model gathers for a batch). Plain, zero-channel and
    label recipes and IMDB share one input among all seeds."""
    data, recipe, protocol = kinds.dataset(spec.dataset), kinds.recipe(spec.recipe), kinds.protocol(spec.protocol)
    features = data.input_width(spec.num_words) * recipe.width_factor
    model = build(spec.model, dict(spec.model_options))
    model.build((None, features))
    slots = protocol.models_per_run(spec.folds, spec.repeats)
    weights = model.count_params() * 4 * 4 * slots
    if data.multi_hot:
        return weights
    rows = spec.train_size or data.rows
    if protocol.cross_validates and shared_fold_rows and not recipe.inputs_per_seed:
        return weights + spec.batch_size * features * 4 * slots * COPIES
    if protocol.cross_validates:
        copies = slots
    elif recipe.inputs_per_seed:
        copies = 1
    else:
        return weights
    return weights + rows * features * 4 * copies * COPIES


def memory_budget_bytes() -> float:
    """The stack budget: $FML_BENCH_STACK_GB when set, else the smaller of 8 GB and 40% of the
    machine's memory (`machine_memory_bytes`: the rest is headroom for the framework, the data
    and the other core's work), divided among the pytest-xdist workers that share the machine
    (`parallel.worker_count`: each trains its own stacks)."""
    value = options.stack_memory_gb()
    if value is not None:
        return value * 1e9
    memory = machine_memory.machine_memory_bytes()
    budget = STACK_MEMORY_GB * 1e9 if memory is None else min(STACK_MEMORY_GB * 1e9, STACK_MEMORY_SHARE * memory)
    return budget / parallel.worker_count()


def max_seeds(spec: ExperimentSpec, shared_fold_rows: bool = False) -> int:
    """How many seeds of `spec` one stack may train within the memory budget
    (`memory_budget_bytes`; `shared_fold_rows`: see `per_seed_bytes`). A seed's numbers do not
    depend on its stack-mates, so the split changes no record, only how the work is batched."""
    budget = memory_budget_bytes()
    return max(1, min(MAX_SEEDS_PER_STACK, int(budget // per_seed_bytes(spec, shared_fold_rows))))


def train_holdout(spec: ExperimentSpec, seeds: Sequence[int], make_trainer: TrainerFactory, engine: str,
                  env: dict[str, str], sparse: bool = False, shuffle: bool = True) -> list[RunRecord]:
    """Hold-out protocols: train `spec` for all `seeds` in one stack; one record per seed.
    `sparse`: the trainer takes IMDB's multi-hot rows as CSR matrices."""
    start = time.perf_counter()
    seeds = list(seeds)
    models = initial_models(spec, seeds, None)
    x, y = stack_data(spec, seeds, sparse)
    n = y.shape[-1]
    cut = validation_start(spec, n)
    x_train, x_val = (x[:cut], x[cut:]) if scipy.sparse.issparse(x) else (x[..., :cut, :], x[..., cut:, :])
    y_train, y_val = y[..., :cut], y[..., cut:]
    stops_early = spec.early_stopping_patience is not None
    test = prepare_test(spec, sparse=scipy.sparse.issparse(x)) if spec.evaluate_test else None
    trainer = make_trainer(spec, models, x_train, y_train, x_val, y_val, test)
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
            spec_name=spec.name, spec_hash=spec.content_hash(), seed=seed, engine=engine, history=curves,
            epoch_seconds=[s / len(seeds) for s in seconds][: len(curves["loss"])], wall_seconds=wall,
            env={**manifest(), "stacked_seeds": str(len(seeds)), **env}, extra=extra,
        ))
    return records


@dataclass
class FoldSlot:
    """One (seed, fold) model of a K-fold protocol: indices of its training and held-out rows in
    its seed's prepared (x, y), which is `bases[base]`."""

    seed: int
    slot: int  # seed * 1000 + fold: the key of its batch-order stream
    model: keras.Model
    base: int
    train_rows: np.ndarray
    val_rows: np.ndarray


@dataclass(frozen=True)
class FoldRows:
    """K-fold slots over rows they share: x (rows, features) and y (rows,), and each slot's
    training and held-out row indices, (S, n_train) and (S, n_val), in the rows' order."""

    x: np.ndarray
    y: np.ndarray
    train: np.ndarray
    val: np.ndarray

    def copies(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each slot's own arrays, stacked: x_train (S, n_train, features), y_train, x_val, y_val."""
        return self.x[self.train], self.y[self.train], self.x[self.val], self.y[self.val]


def takes_fold_rows(make_trainer: TrainerFactory) -> bool:
    """Whether a trainer factory takes `fold_rows=FoldRows(...)` in place of per-slot copies (the
    stacked engine: the slots gather their rows from the shared ones, where copies of 504 slots
    of the fast tier's iterated K-fold took 600 MB and 10 s to make and convert)."""
    return bool(getattr(make_trainer, "takes_fold_rows", False))


def train_folds(spec: ExperimentSpec, seeds: Sequence[int], make_trainer: TrainerFactory, engine: str,
                env: dict[str, str]) -> list[RunRecord]:
    """K-fold protocols: every (seed, fold) model is one slot of a stack.

    Folds of unequal size (rows not divisible by K) cannot share one stack: the slots are
    grouped by fold size and each group trains as its own stack. A slot's run depends only on
    its own seed streams, so the grouping changes no number. Seeds whose prepared rows are the
    same (every recipe that does not change x or y with the seed) share them.
    """
    start = time.perf_counter()
    seeds = list(seeds)
    slots: list[FoldSlot] = []
    bases: list[tuple[np.ndarray, np.ndarray]] = []
    for seed in seeds:
        x, y = prepare(spec, seed)
        if not bases or not (np.array_equal(x, bases[-1][0]) and np.array_equal(y, bases[-1][1])):
            bases.append((x, y))
        seed_everything(seed)
        for k, held_out in enumerate(validation_folds(len(y), spec, seed)):
            mask = np.zeros(len(y), bool)
            mask[held_out] = True
            model = build(spec.model, dict(spec.model_options))  # built by the trainer that needs keras' variables
            slots.append(FoldSlot(seed, seed * 1000 + k, model, len(bases) - 1, np.flatnonzero(~mask),
                                  np.flatnonzero(mask)))
    histories: dict[str, np.ndarray] = {}
    order: list[FoldSlot] = []
    seconds = np.zeros(spec.epochs)
    fold_sizes = sorted({len(s.val_rows) for s in slots})
    for size in fold_sizes:
        group = [s for s in slots if len(s.val_rows) == size]
        models = [s.model for s in group]
        shared = {s.base for s in group}
        if len(shared) == 1 and takes_fold_rows(make_trainer):
            x, y = bases[shared.pop()]
            shared_rows = FoldRows(x, y, np.stack([s.train_rows for s in group]),
                                   np.stack([s.val_rows for s in group]))
            trainer = make_trainer(spec, models, None, None, None, None, None, fold_rows=shared_rows)
        else:
            copies = [FoldRows(*bases[s.base], s.train_rows, s.val_rows).copies() for s in group]
            trainer = make_trainer(spec, models, *(np.stack(arrays) for arrays in zip(*copies)), None)
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
            spec_name=spec.name, spec_hash=spec.content_hash(), seed=seed, engine=engine, history=curves,
            epoch_seconds=[s / len(seeds) for s in seconds], wall_seconds=wall,
            env={**manifest(), "stacked_seeds": str(len(slots)), "stacks": str(len(fold_sizes)), **env},
            extra=extra,
        ))
    return records
