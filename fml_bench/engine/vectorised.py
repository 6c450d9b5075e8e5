"""The vectorised engine: S seeds of one spec trained at once under the jax or torch backend,
through Keras' stateless API vectorised over a leading seed axis (issue 23).

Each seed's keras model is built exactly as the reference engine builds it (`seed_everything`,
the book's builder); its variables (weights, and the dropout layers' seed-generator states)
and its optimizer's variables are stacked on axis 0. One training step is

    model.stateless_call(weights, states, batch, training=True, return_losses=True)
    -> keras' loss (batch mean) + the model's regularization losses -> jax.grad
    -> optimizer.stateless_apply(slots, grads, weights)

for one seed (`SeedProgram`, written in keras.ops), vmapped over the seed axis: under jax an
epoch's full batches run as one `jax.lax.scan` compiled once by `jax.jit`; under torch,
`torch.func.vmap` runs eagerly step by step (see `TorchVectorisedTrainer` for what torch
cannot batch and how it is handled). So any layer Keras has works without a hand-written
rule (the stacked engine reimplements Dense and Dropout for TensorFlow), each seed draws its
dropout masks from its own model's seed generator under jax, and keras' optimizer and regularizers are
keras' own. Shuffle orders, validation split, metric averaging, early stopping, K-fold slots
and the records are the stacked engine's (`stacking.py`).

IMDB's multi-hot rows go in dense under jax, as they do in the reference engine's `model.fit`;
under torch the first Dense layer sums them as bags of kernel rows (vectorised_bags.py).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import scipy.sparse

from fml_bench import kinds
from fml_bench.engine import stacking
from fml_bench.experiments import ExperimentSpec
from fml_bench.malloc_reuse import keep_freed_blocks
from fml_bench.protocol import compile_model
from fml_bench.records import RunRecord

ENGINE_NAME = "vectorised"
EVAL_CHUNK = 8192  # rows scored per call, summed over seeds


def loss_and_hits(spec: ExperimentSpec, y, probs):
    """Per-sample loss and correct predictions for one seed, with keras' own loss functions and
    the rule of keras' "accuracy" metric for the spec's loss."""
    ops = keras.ops
    if spec.loss == "binary_crossentropy":
        truth = ops.cast(y, probs.dtype)
        loss = keras.losses.binary_crossentropy(truth[..., None], probs)
        hits = ops.cast(ops.equal(ops.cast(probs[..., 0] > 0.5, probs.dtype), truth), "float32")
    else:
        loss = keras.losses.sparse_categorical_crossentropy(y, probs)
        hits = ops.cast(ops.equal(ops.argmax(probs, axis=-1), ops.cast(y, "int32")), "float32")
    return loss, hits


def _dense(x):
    return x.toarray() if scipy.sparse.issparse(x) else np.asarray(x)


class SeedProgram:
    """One seed's training step, scores and penalty as pure functions of its variables, written
    with keras.ops and Keras' stateless API so that jax.vmap and torch.func.vmap both batch them.

    grad_and_value(f) must return f's gradient with respect to its first argument and f's value
    (total loss, aux), the backend's rule.
    """

    def __init__(self, spec: ExperimentSpec, model: keras.Model, optimizer, grad_and_value):
        self.spec, self.model, self.optimizer = spec, model, optimizer
        self._grad = grad_and_value(self.seed_loss)

    def seed_loss(self, weights, states, xb, yb):
        """keras' training loss of one batch (its mean plus the model's regularization losses),
        with the seed-generator states after the step and the batch's correct predictions."""
        probs, states, losses = self.model.stateless_call(weights, states, xb, training=True, return_losses=True)
        loss, hits = loss_and_hits(self.spec, yb, probs)
        total = keras.ops.mean(loss)
        for term in losses:
            total = total + term
        return total, (states, keras.ops.sum(hits))

    def seed_grads(self, weights, states, x, y, idx):
        """One seed's gradients on rows `idx` of its inputs, with its loss, states and hits."""
        return self.batch_grads(weights, states, x[idx], y[idx])

    def batch_grads(self, weights, states, xb, yb):
        """One seed's gradients on the batch (xb, yb), with its loss, states and hits."""
        grads, (total, (states, hits)) = self._grad(weights, states, xb, yb)
        return grads, states, total, hits

    def seed_step(self, weights, states, slots, x, y, idx):
        """One step of one seed on rows `idx` of its inputs: keras' optimizer, stateless."""
        grads, states, total, hits = self.seed_grads(weights, states, x, y, idx)
        weights, slots = self.optimizer.stateless_apply(slots, grads, weights)
        return weights, states, slots, total, hits

    def seed_scores(self, weights, states, xb, yb):
        """Summed loss (without the penalty) and correct predictions of one seed on rows xb."""
        probs, _ = self.model.stateless_call(weights, states, xb, training=False)
        loss, hits = loss_and_hits(self.spec, yb, probs)
        return keras.ops.sum(loss), keras.ops.sum(hits)

    def seed_penalty(self, weights, states, xb):
        """The seed's regularization losses summed (xb: any one row, to run the model)."""
        _, _, losses = self.model.stateless_call(weights, states, xb, training=False, return_losses=True)
        total = keras.ops.zeros(())
        for term in losses:
            total = total + term
        return total


class VectorisedTrainer(stacking.SeedStackTrainer):
    """S keras models of one spec, their variables stacked on a leading seed axis, trained by a
    vmapped `SeedProgram`; a backend supplies its arrays, vmap, gradient and the epoch loop."""

    program_class: type[SeedProgram] = SeedProgram

    def __init__(self, spec: ExperimentSpec, models: list[keras.Model], x_train, y_train, x_val, y_val,
                 test: tuple | None = None):
        stacking.build_models(models, x_train.shape[-1])
        self.spec, self.seeds, self.model = spec, len(models), models[0]
        self.x_train, self.y_train = self.inputs(x_train), self.array(y_train)
        self.x_axis, self.y_axis = (0 if x_train.ndim == 3 else None), (0 if y_train.ndim == 2 else None)
        self.rows = int(y_train.shape[-1])
        self.validation = (self.inputs(x_val), self.array(y_val))
        self.test = (self.inputs(test[0]), self.array(test[1])) if test is not None else None
        self.optimizer = compile_model(spec).optimizer
        self.optimizer.build(self.model.trainable_variables)
        self.weights = [self.stack([m.trainable_variables[i].value for m in models])
                        for i in range(len(self.model.trainable_variables))]
        self.states = [self.stack([m.non_trainable_variables[i].value for m in models])
                       for i in range(len(self.model.non_trainable_variables))]
        self.slots = [self.stack([v.value] * self.seeds) for v in self.optimizer.variables]
        self.program = self.program_class(spec, self.model, self.optimizer, self.grad_and_value)

    def inputs(self, x):
        """A model input as the trainer keeps it: the backend's dense array."""
        return self.array(_dense(x))

    # what a backend supplies
    def array(self, values): raise NotImplementedError  # noqa: E704
    def stack(self, values: list): raise NotImplementedError  # noqa: E704
    def grad_and_value(self, f): raise NotImplementedError  # noqa: E704

    def run_batches(self, batches: np.ndarray):
        """Every batch of (steps, S, B) row indices in turn: per-seed sums of the batch losses
        and of correct predictions (updating self.weights, states, slots)."""
        raise NotImplementedError

    def scores(self, x, y, axes: tuple[int | None, int | None]):
        raise NotImplementedError

    def penalty(self) -> np.ndarray:
        raise NotImplementedError

    def train_epoch(self, perm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, b = perm.shape[1], self.spec.batch_size
        full = n // b
        batches = perm[:, : full * b].reshape(len(perm), full, b).transpose(1, 0, 2)
        loss_sum, hit_sum = self.run_batches(batches)
        loss_sum = loss_sum * b  # keras weights each batch's loss by its size
        if n % b:
            loss, hits = self.run_batches(perm[None, :, full * b :])
            loss_sum += loss * (n % b)
            hit_sum += hits
        return loss_sum, hit_sum

    def evaluate(self, data: tuple[Any, Any]) -> tuple[np.ndarray, np.ndarray]:
        x, y = data
        axes = (0 if x.ndim == 3 else None, 0 if y.ndim == 2 else None)
        n = int(y.shape[-1])
        loss_sum, hit_sum = np.zeros(self.seeds), np.zeros(self.seeds)
        chunk = max(self.spec.batch_size, EVAL_CHUNK // self.seeds)  # sums are order-free
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            loss, hits = self.scores(x[..., start:stop, :], y[..., start:stop], axes)
            loss_sum += loss
            hit_sum += hits
        return loss_sum / n, hit_sum / n


class JaxVectorisedTrainer(VectorisedTrainer):
    """The jax backend: `jax.vmap` over seeds, an epoch's full batches as one `jax.lax.scan`,
    each compiled once by `jax.jit` (the variables' buffers donated, updated in place)."""

    def __init__(self, *args, **kwargs):
        import jax

        super().__init__(*args, **kwargs)
        program = self.program
        step = jax.vmap(program.seed_step, in_axes=(0, 0, 0, self.x_axis, self.y_axis, 0))

        def epoch(weights, states, slots, x, y, batches):
            def body(carry, idx):
                weights, states, slots, total, hits = step(*carry, x, y, idx)
                return (weights, states, slots), (total, hits)

            (weights, states, slots), (totals, hits) = jax.lax.scan(body, (weights, states, slots), batches)
            return weights, states, slots, totals.sum(axis=0), hits.sum(axis=0)

        self._epoch = jax.jit(epoch, donate_argnums=(0, 1, 2))
        self._scorers = {axes: jax.jit(jax.vmap(program.seed_scores, in_axes=(0, 0, *axes)))
                         for axes in ((None, None), (0, 0), (None, 0), (0, None))}
        self._penalty = jax.jit(jax.vmap(program.seed_penalty, in_axes=(0, 0, self.x_axis)))

    def array(self, values):
        import jax.numpy as jnp

        return jnp.asarray(values)

    def stack(self, values: list):
        import jax.numpy as jnp

        return jnp.stack([jnp.asarray(v) for v in values])

    def grad_and_value(self, f):
        import jax

        value_and_grad = jax.value_and_grad(f, has_aux=True)

        def swapped(*args):
            value, grads = value_and_grad(*args)
            return grads, value

        return swapped

    def run_batches(self, batches: np.ndarray):
        self.weights, self.states, self.slots, loss_sum, hit_sum = self._epoch(
            self.weights, self.states, self.slots, self.x_train, self.y_train, batches)
        return np.asarray(loss_sum, np.float64), np.asarray(hit_sum, np.float64)

    def scores(self, x, y, axes):
        loss, hits = self._scorers[axes](self.weights, self.states, x, y)
        return np.asarray(loss, np.float64), np.asarray(hits, np.float64)

    def penalty(self) -> np.ndarray:
        return np.asarray(self._penalty(self.weights, self.states, self.x_train[..., :1, :]), np.float64)


class TorchVectorisedTrainer(VectorisedTrainer):
    """The torch backend: the gradients by `torch.func.vmap` over seeds of
    `torch.func.grad_and_value`, run eagerly step by step. Two things do not batch under
    torch.func.vmap, and are handled: keras' fused torch optimizers (`torch._foreach_*` has no
    batching rule) run outside the vmap, on the stacked weights (keras' optimizers update each
    weight elementwise, so a seed's slice gets exactly its own update: the stacked engine's rule;
    an optimizer with norm clipping, which is not elementwise, is refused); and dropout, whose masks keras' torch
    backend draws from torch's global generator, not from the layer's seed generator: a
    dropout model trains one seed per stack (`max_seeds`), so its masks come from the generator
    as `seed_everything(seed)` and the model's building left it (as in the reference engine's
    `model.fit` under torch), and its record does not depend on the seeds that share its stack.
    keras' L1L2 regularizer adds in place, which vmap cannot batch either: `OutOfPlaceL1L2` stands
    in for it (the same terms in the same order).

    A step (the vmapped gradients and the optimizer) is compiled once per spec and stack shape by
    `torch.compile` (see `compiled_torch_step`): eager, keras' torch RMSprop makes eight passes over
    every stacked weight and the small models pay Python for every layer of every step."""

    def __init__(self, *args, **kwargs):
        import torch

        keep_freed_blocks()  # every step allocates the same large tensors (malloc_reuse.py)
        super().__init__(*args, **kwargs)
        for variable in self.model.trainable_variables:
            if type(variable.regularizer) is keras.regularizers.L1L2:
                variable.regularizer = OutOfPlaceL1L2(variable.regularizer)
        if self.optimizer.clipnorm or self.optimizer.global_clipnorm:
            raise NotImplementedError("norm clipping is not elementwise: the vectorised engine under torch "
                                      "cannot apply it to stacked weights")
        key = (type(self).__name__, repr(self.spec), self.seeds, tuple(self.x_train.shape), tuple(self.y_train.shape))
        if key not in _TORCH_STEPS:
            stack_optimizer = compile_model(self.spec).optimizer
            stack_optimizer.build([keras.Variable(w) for w in self.weights])
            _TORCH_STEPS[key] = (self.model, self.program, stack_optimizer, self.build_step(stack_optimizer))
            while len(_TORCH_STEPS) > TORCH_STEPS_KEPT:
                _TORCH_STEPS.pop(next(iter(_TORCH_STEPS)))
        # the keras model a step was compiled with runs every stack of this spec and shape (only
        # its structure counts: the weights are arguments), so a later look does not compile again
        self.model, self.program, self.stack_optimizer, self._step = _TORCH_STEPS[key]
        self.slots = [v.value.detach().clone() for v in self.stack_optimizer.variables]
        self._scorers = {axes: torch.func.vmap(self.program.seed_scores, in_dims=(0, 0, *axes))
                         for axes in ((None, None), (0, 0), (None, 0), (0, None))}
        self._penalty = torch.func.vmap(self.program.seed_penalty, in_dims=(0, 0, self.x_axis))

    def build_step(self, stack_optimizer):
        """The stack's training step: (weights, states, slots, xb, yb) -> (weights, states,
        slots, per-seed batch losses, per-seed hits), compiled."""
        import torch

        grads = torch.func.vmap(self.program.batch_grads, in_dims=(0, 0, 0, 0), randomness="different")
        return compiled_torch_step(eager_torch_step(grads, stack_optimizer))

    def array(self, values):
        import torch

        return torch.as_tensor(np.asarray(values))

    def stack(self, values: list):
        import torch

        return torch.stack([torch.as_tensor(v).detach().clone() for v in values])

    def grad_and_value(self, f):
        import torch

        return torch.func.grad_and_value(f, has_aux=True)

    def run_batches(self, batches: np.ndarray):
        import torch

        loss_sum, hit_sum = torch.zeros(self.seeds, dtype=torch.float64), torch.zeros(self.seeds, dtype=torch.float64)
        for idx in torch.as_tensor(batches):
            xb, yb = self.batch(self.x_train, self.x_axis, idx), self.batch(self.y_train, self.y_axis, idx)
            self.weights, self.states, self.slots, total, hits = self._step(
                self.weights, self.states, self.slots, xb, yb)
            loss_sum += total.detach().double()
            hit_sum += hits.detach().double()
        return loss_sum.numpy(), hit_sum.numpy()

    @staticmethod
    def batch(values, axis: int | None, idx):
        """Each seed's rows `idx` (S, B) of `values`, shared (axis None) or one per seed (axis 0),
        gathered eagerly, so the compiled step sees batches, never the whole training array."""
        import torch

        if axis is None:
            return values[idx]
        return values[torch.arange(len(idx))[:, None], idx]

    def scores(self, x, y, axes):
        import torch

        with torch.no_grad():
            loss, hits = self._scorers[axes](self.weights, self.states, x, y)
        return loss.double().numpy(), hits.double().numpy()

    def penalty(self) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self._penalty(self.weights, self.states, self.x_train[..., :1, :]).double().numpy()


TORCH_STEPS_KEPT = 8  # compiled steps kept per process (a claim's experiments and their looks)
_TORCH_STEPS: dict[tuple, tuple] = {}
TORCH_RECOMPILE_LIMIT = 4096  # a whole tier's specs and stack shapes in one process
TORCH_COMPILE_VARIABLE = "FML_BENCH_TORCH_COMPILE"  # "0": run torch's steps eagerly


def eager_torch_step(grads, stack_optimizer):
    """One training step of a stack under torch: the vmapped gradients, then keras' optimizer on
    the stacked weights (outside the vmap: see TorchVectorisedTrainer)."""
    import torch

    def step(weights, states, slots, xb, yb):
        grads_, states, total, hits = grads(weights, states, xb, yb)
        with torch.no_grad():
            weights, slots = stack_optimizer.stateless_apply(slots, grads_, weights)
        return weights, states, slots, total, hits

    return step


class CompiledOrEager:
    """`step` compiled by torch.compile (inductor: one fused C++ loop for the optimizer's passes,
    no Python per layer), or `step` itself where compiling fails (no C++ compiler, an op dynamo
    cannot trace): then a warning, and the run goes on eagerly with the same arithmetic."""

    def __init__(self, step):
        import torch

        self.step = step
        self.compiled = torch.compile(step, dynamic=False)

    def __call__(self, *args):
        if self.compiled is not None:
            try:
                return self.compiled(*args)
            except Exception as error:  # noqa: BLE001 - any compiler failure; the eager step raises real errors
                warnings.warn(f"torch.compile failed ({type(error).__name__}: {str(error)[:200]}); "
                              f"the vectorised engine runs this stack eagerly ({TORCH_COMPILE_VARIABLE}=0 "
                              "skips compiling)", RuntimeWarning, stacklevel=2)
                self.compiled = None
        return self.step(*args)


def compiled_torch_step(step):
    """`step` compiled, unless FML_BENCH_TORCH_COMPILE=0. Compiled randomness is torch's own
    (inductor's `fallback_random`), so dropout masks come from torch's global generator as
    they do eagerly; every spec and stack shape is a graph of its own, all of one Python function,
    so dynamo's recompile limits (8 per function by default, then eager) are raised."""
    import torch

    if os.environ.get(TORCH_COMPILE_VARIABLE, "1") == "0":
        return step
    torch._inductor.config.fallback_random = True
    for limit in ("recompile_limit", "accumulated_recompile_limit"):
        setattr(torch._dynamo.config, limit, max(getattr(torch._dynamo.config, limit), TORCH_RECOMPILE_LIMIT))
    return CompiledOrEager(step)


class OutOfPlaceL1L2:
    """keras' L1L2 regularizer without its in-place `+=` (which torch.func.vmap cannot batch
    into an unbatched zero): the same terms in the same order."""

    def __init__(self, regularizer):
        self.l1, self.l2 = regularizer.l1, regularizer.l2

    def __call__(self, x):
        ops = keras.ops
        total = ops.convert_to_tensor(0.0, dtype=x.dtype)
        if self.l1:
            total = total + ops.cast(self.l1, dtype=x.dtype) * ops.sum(ops.absolute(x))
        if self.l2:
            total = total + ops.cast(self.l2, dtype=x.dtype) * ops.sum(ops.square(x))
        return total


TRAINERS: dict[str, type[VectorisedTrainer]] = {"jax": JaxVectorisedTrainer, "torch": TorchVectorisedTrainer}


def max_seeds(spec: ExperimentSpec) -> int:
    """The stack's memory bound (`stacking.max_seeds`); under torch a dropout model trains one
    seed at a time (see TorchVectorisedTrainer)."""
    from fml_bench.models import has_dropout

    if keras.backend.backend() == "torch" and has_dropout(spec.model):
        return 1
    return stacking.max_seeds(spec)


def make_trainer() -> stacking.TrainerFactory:
    """The trainer for this process's Keras backend."""
    backend = keras.backend.backend()
    if backend not in TRAINERS:
        raise NotImplementedError(f"the vectorised engine has no trainer for the Keras backend {backend!r}")
    if backend == "torch":
        from fml_bench.engine.vectorised_bags import torch_trainer

        return torch_trainer
    return TRAINERS[backend]


def uses_bags(spec: ExperimentSpec) -> bool:
    """Under torch, IMDB's multi-hot rows go in as CSR and the first layer sums them as bags
    (vectorised_bags.py); jax multiplies the dense rows (XLA's matmul is its fast route)."""
    return keras.backend.backend() == "torch" and kinds.multi_hot_input(spec.dataset, spec.recipe)


def run_seeds(spec: ExperimentSpec, seeds: Sequence[int], shuffle: bool = True) -> list[RunRecord]:
    """Train `spec` for all `seeds` at once; one record per seed."""
    env = {"keras_backend": keras.backend.backend()}
    if env["keras_backend"] == "torch":
        env["malloc"] = keep_freed_blocks()
    if len(seeds) > 1 and max_seeds(spec) == 1 and keras.backend.backend() == "torch":
        return [record for seed in seeds for record in run_seeds(spec, [seed], shuffle)]  # dropout under torch
    if kinds.protocol(spec.protocol).cross_validates:
        return stacking.train_folds(spec, seeds, make_trainer(), ENGINE_NAME, env)
    return stacking.train_holdout(spec, seeds, make_trainer(), ENGINE_NAME, env, sparse=uses_bags(spec),
                                  shuffle=shuffle)
