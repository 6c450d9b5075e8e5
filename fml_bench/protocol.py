"""The experiment protocol every engine follows: validation folds, the common-sense baseline,
keras' early-stopping rule, and the per-run scalars a record carries (their names and the
functions that make them).

Engines differ in how they train; what they measure, and on which rows, is decided here.
"""

from __future__ import annotations

import numpy as np

from fml_bench import kinds
from fml_bench.experiments import ExperimentSpec
from fml_bench.inputs import holdout_split_index
from fml_bench.seeding import stream

# History keys every record has, and the one that only runs with a regularizer fill with
# non-zeros: the weight penalty (sum of the layers' regularization losses) at each epoch's end.
PENALTY = "penalty"

# The per-run scalars (`RunRecord.extra`) a record may carry, made by the functions below only,
# and read by the claims through `metrics.extra(NAME)`.
MAJORITY_BASELINE = "majority_baseline"  # accuracy of the training labels' most common class on validation
RESTORED_VAL_LOSS = "restored_val_loss"  # early stopping: the restored (best) model's validation scores
RESTORED_VAL_ACCURACY = "restored_val_accuracy"
EPOCHS_RUN = "epochs_run"  # early stopping: epochs trained before it stopped
TEST_LOSS = "test_loss"  # the trained (with early stopping: restored) model on the test split
TEST_ACCURACY = "test_accuracy"
ESTIMATE_VAL_ACCURACY = "estimate_val_accuracy"  # K-fold: the mean of the folds' last-epoch scores
ESTIMATE_VAL_LOSS = "estimate_val_loss"
MODELS_TRAINED = "models_trained"  # K-fold: folds x repeats


def holdout_scalars(train_labels: np.ndarray, val_labels: np.ndarray,
                    restored: tuple[float, float, int] | None = None,
                    test: tuple[float, float] | None = None) -> dict[str, float]:
    """The scalars of a hold-out run: the common-sense baseline; with early stopping the
    restored model's (val_loss, val_accuracy, epochs run); with a test split its (loss, accuracy)."""
    out = {MAJORITY_BASELINE: majority_baseline(train_labels, val_labels)}
    if restored is not None:
        out.update({RESTORED_VAL_LOSS: float(restored[0]), RESTORED_VAL_ACCURACY: float(restored[1]),
                    EPOCHS_RUN: float(restored[2])})
    if test is not None:
        out.update({TEST_LOSS: float(test[0]), TEST_ACCURACY: float(test[1])})
    return out


def kfold_scalars(final_val_accuracy, final_val_loss) -> dict[str, float]:
    """The scalars of a K-fold run from each fold model's last-epoch validation scores."""
    return {ESTIMATE_VAL_ACCURACY: float(np.mean(final_val_accuracy)),
            ESTIMATE_VAL_LOSS: float(np.mean(final_val_loss)), MODELS_TRAINED: float(len(final_val_accuracy))}


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
    kind = kinds.protocol(spec.protocol)
    if kind.shuffled:
        order = rng.permutation(num_samples)
        return [order[holdout_split_index(num_samples, spec.validation_split):]]
    repeats = spec.repeats if kind.repeated else 1
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
