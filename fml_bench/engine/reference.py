"""The reference engine: one `model.fit` per seed, as the book's notebook runs it: the same
model, compile and fit arguments, keras' trailing validation split, a fresh shuffle of the
training rows every epoch (done by a seeded tf.data pipeline, see `shuffled_batches`)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from fml_bench import kinds, paths
from fml_bench.engine import report_epoch
from fml_bench.env import manifest
from fml_bench.experiments import ExperimentSpec
from fml_bench.inputs import prepare, prepare_test, validation_start
from fml_bench.protocol import PENALTY, compile_model, holdout_scalars, kfold_scalars, validation_folds
from fml_bench.records import HISTORY_KEYS, RunRecord
from fml_bench.seeding import seed_everything

ENGINE_NAME = "reference"


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch, validation included, and the weight penalty at its end."""

    def on_train_begin(self, logs=None):
        self.seconds: list[float] = []
        self.penalty: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        self.penalty.append(float(sum(float(keras.ops.convert_to_numpy(loss)) for loss in self.model.losses)))
        report_epoch(epoch + 1, self.params.get("epochs", 0), dict(logs or {}))


def shuffled_batches(x, y, batch_size: int, seed: int) -> tf.data.Dataset:
    """Training batches in a fresh seeded order every epoch, as keras' array adapter builds them
    (a permutation of indices, batched, gathered from the arrays).

    Why not `fit(x, y, shuffle=True)`: after `keras.utils.set_random_seed`, Keras 3 (seen with
    3.15 on TF 2.21) replays the first epoch's order in every epoch, while the book's unseeded
    notebook reshuffles. `benchmarks/test_framework.py` tracks that behaviour.
    """
    n = len(y)
    order = tf.data.Dataset.range(n).shuffle(n, seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    arrays = tf.data.Dataset.from_tensors((x, y)).repeat()
    return tf.data.Dataset.zip((order, arrays)).map(
        lambda idx, d: (tf.gather(d[0], idx), tf.gather(d[1], idx)), num_parallel_calls=tf.data.AUTOTUNE
    ).prefetch(1)


def _fit(spec: ExperimentSpec, x, y, seed: int, validation_data=None, holdout: bool = False):
    """model.fit as the book calls it; `holdout` validates on keras' trailing split rows."""
    if holdout:
        cut = validation_start(spec, len(y))
        x, y, validation_data = x[:cut], y[:cut], (x[cut:], y[cut:])
    model = compile_model(spec)
    timer = EpochTimer()
    callbacks: list[keras.callbacks.Callback] = [timer]
    if spec.early_stopping_patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=spec.early_stopping_patience, restore_best_weights=True
            )
        )
    history = model.fit(
        shuffled_batches(x, y, spec.batch_size, seed), epochs=spec.epochs, verbose=0, callbacks=callbacks,
        shuffle=False, validation_data=validation_data, validation_batch_size=spec.batch_size,
    )
    curves = {k: [float(v) for v in history.history[k]] for k in HISTORY_KEYS}
    curves[PENALTY] = timer.penalty
    return model, curves, timer.seconds


def _score_test(spec: ExperimentSpec, model: keras.Model) -> tuple[float, float]:
    """The trained model's loss and accuracy on the spec's test rows (keras' evaluate); with
    early stopping these are the restored model's."""
    x_test, y_test = prepare_test(spec)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=spec.batch_size, verbose=0)
    return float(loss), float(accuracy)


def keep_compiled_programs() -> None:
    """Under the jax backend, keep XLA's compiled programs on disk (`<cache>/jax-compiled`).

    Every `model.fit` builds a new model, whose train and test steps jax traces and compiles
    again: on the fast tier's 500-row K-fold models that compilation is most of a fold's time.
    The cache is keyed by the compiled program, so a seed's numbers do not change (checked by
    `benchmarks/jax_compile_cache.py`). A cache directory the user chose
    (JAX_COMPILATION_CACHE_DIR) is left as it is; other backends are untouched.
    """
    if keras.backend.backend() != "jax":
        return
    import jax

    if getattr(jax.config, "jax_compilation_cache_dir", None):
        return
    jax.config.update("jax_compilation_cache_dir", str(paths.cache_dir() / "jax-compiled"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def run_one(spec: ExperimentSpec, seed: int) -> RunRecord:
    """Train `spec` once with `seed`; return its per-epoch history and timings."""
    start = time.perf_counter()
    keep_compiled_programs()
    seed_everything(seed)
    x, y = prepare(spec, seed)
    if not kinds.protocol(spec.protocol).cross_validates:
        model, curves, seconds = _fit(spec, x, y, seed, holdout=True)
        cut = validation_start(spec, len(y))
        restored = None
        if spec.early_stopping_patience is not None:
            val_loss, val_acc = model.evaluate(x[cut:], y[cut:], batch_size=spec.batch_size, verbose=0)
            restored = (val_loss, val_acc, len(curves["loss"]))
        extra = holdout_scalars(y[:cut], y[cut:], restored, _score_test(spec, model) if spec.evaluate_test else None)
    else:
        curves, seconds, extra = _cross_validate(spec, x, y, seed)
    return RunRecord(
        spec_name=spec.name, spec_hash=spec.content_hash(), seed=seed, engine=ENGINE_NAME,
        history=curves, epoch_seconds=seconds, wall_seconds=time.perf_counter() - start,
        env=manifest(), extra=extra,
    )


def _cross_validate(spec: ExperimentSpec, x, y, seed: int):
    scores, losses, curve_sets, seconds = [], [], [], []
    for held_out in validation_folds(len(y), spec, seed):
        mask = np.zeros(len(y), bool)
        mask[held_out] = True
        _, curves, secs = _fit(spec, x[~mask], y[~mask], seed, validation_data=(x[mask], y[mask]))
        scores.append(curves["val_accuracy"][-1])
        losses.append(curves["val_loss"][-1])
        curve_sets.append(curves)
        seconds.extend(secs)
    mean_curves = {k: np.mean([c[k] for c in curve_sets], axis=0).tolist() for k in (*HISTORY_KEYS, PENALTY)}
    return mean_curves, seconds, kfold_scalars(scores, losses)


def run_seeds(spec: ExperimentSpec, seeds: Sequence[int]) -> list[RunRecord]:
    """`run_one` for each seed in turn."""
    return [run_one(spec, s) for s in seeds]
