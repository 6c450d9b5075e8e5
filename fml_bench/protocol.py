"""The experiment protocol every engine follows: validation folds, the common-sense baseline,
keras' early-stopping rule, and the names of the per-run scalars a record carries.

Engines differ in how they train; what they measure, and on which rows, is decided here.
"""

from __future__ import annotations

import numpy as np

from fml_bench.experiments import ExperimentSpec
from fml_bench.inputs import holdout_split_index
from fml_bench.seeding import stream

# History keys every record has, and the one that only runs with a regularizer fill with
# non-zeros: the weight penalty (sum of the layers' regularization losses) at each epoch's end.
PENALTY = "penalty"


def majority_baseline(train_labels: np.ndarray, val_labels: np.ndarray) -> float:
    """Section 5.2.2: validation accuracy of always predicting the most frequent class of the
    *training* labels (what a common-sense baseline can know without seeing validation data)."""
    classes, counts = np.unique(np.asarray(train_labels), return_counts=True)
    majority = classes[np.argmax(counts)]
    return float(np.mean(np.asarray(val_labels) == majority))


def validation_folds(num_samples: int, spec: ExperimentSpec, seed: int) -> list[np.ndarray]:
    """Section 5.2.1: the validation index sets of a protocol.

    shuffled-holdout (listing 5.5): shuffle, hold out `validation_split`. kfold (listing
    5.6): K equal folds of one shuffled order. iterated-kfold: `repeats` K-fold partitions,
    each of a fresh shuffle ("iterated K-fold validation with shuffling").
    """
    rng = stream(seed, "folds")
    if spec.protocol == "shuffled-holdout":
        order = rng.permutation(num_samples)
        return [order[holdout_split_index(num_samples, spec.validation_split):]]
    repeats = spec.repeats if spec.protocol == "iterated-kfold" else 1
    folds = []
    for _ in range(repeats):
        folds.extend(np.array_split(rng.permutation(num_samples), spec.folds))
    return folds


def early_stopping_epochs(val_loss: np.ndarray, patience: int) -> tuple[int, int]:
    """Keras' EarlyStopping(val_loss, patience, restore_best_weights) on one curve:
    (epochs run, index of the best epoch, whose weights are restored)."""
    best, best_epoch, wait = np.inf, 0, 0
    for epoch, current in enumerate(val_loss):
        wait += 1
        if current < best:
            best, best_epoch, wait = current, epoch, 0
            continue
        if wait >= patience and epoch > 0:
            return epoch + 1, best_epoch
    return len(val_loss), best_epoch


def compile_model(spec: ExperimentSpec):
    """Build and compile the spec's model as the book does (optimizer, loss, accuracy)."""
    import keras

    from fml_bench.models import build

    model = build(spec.model, dict(spec.model_options))
    optimizer = (
        keras.optimizers.get(spec.optimizer)
        if spec.learning_rate is None
        else keras.optimizers.get({"class_name": spec.optimizer, "config": {"learning_rate": spec.learning_rate}})
    )
    model.compile(optimizer=optimizer, loss=spec.loss, metrics=["accuracy"])
    return model
