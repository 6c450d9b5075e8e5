"""IMDB's multi-hot input under torch as bags of kernel rows: the vectorised engine's first
Dense layer without multiplying by zeros (issue 23; the stacked engine's route under
TensorFlow is bags.py).

A review's multi-hot vector (Listing 4.3's `vectorize_sequences`, 10,000 words, about 1.3%
ones) times the first kernel is the sum of the kernel rows of its words, and the kernel's
gradient X^T dZ is, for each word, the sum of the output-gradient rows of the reviews that
contain it. Both are one `torch.nn.functional.embedding_bag` (mode "sum") over the seeds'
kernels stacked as one table, with index arrays built in NumPy (multihot.py): each output row
is summed in index order, so a run is reproducible. A step is then

    Z = bags(W1)                          eager, no gradient taken through it
    grads of the rest, dZ = vmap(grad(tail loss))      compiled (torch.compile)
    dW1 = transposed bags(dZ) (+ W1's regularizer gradient)
    keras' optimizer on the stacked weights           compiled

where the tail is the model after the first layer's product, run statelessly exactly as
`Model.stateless_call` runs it (a `StatelessScope` over every variable, the first layer's bias
and activation, then each later layer; the losses are `model.losses`, so regularizers are
keras' own). Only a Dense first layer is taken this way; a model that starts otherwise keeps
the dense route (vectorised.py).

Measured on a 2-core AMD EPYC Zen 3 (one thread, the other core busy), fast tier, 8 seeds,
seconds per epoch and seed, dense route -> bags -> bags with malloc's freed blocks kept
(malloc_reuse.py): imdb-16-16 0.124-0.143 -> 0.032-0.041 -> 0.043; imdb-512-512 1.87-2.79 ->
0.68-0.70 -> 0.33-0.36 (docs/measurements/2026-12-01-zen3-torch-bags-order.md).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import scipy.sparse

from fml_bench.engine import multihot
from fml_bench.engine.vectorised import (
    EVAL_CHUNK,
    SeedProgram,
    TorchVectorisedTrainer,
    compiled_torch_step,
    loss_and_hits,
)


def takes_bags(model: keras.Model) -> bool:
    """Whether the model's first layer is a plain Dense layer (a product, a bias, an activation),
    the one layer the bag route replaces."""
    if not model.layers:
        return False
    first = model.layers[0]
    return (type(first) is keras.layers.Dense and not first.lora_enabled
            and first.dtype_policy.quantization_mode is None)


class BagSeedProgram(SeedProgram):
    """`SeedProgram` from the first layer's product on: one seed's tail loss and scores given
    Z = X W1 (without the bias), as pure functions that torch.func batches."""

    def tail_call(self, weights, states, z1, training: bool):
        """The model's output from the first layer's product `z1`, its seed-generator states
        after the call and its losses: `Model.stateless_call` with the first product given."""
        model = self.model
        mapping = list(zip(model.trainable_variables, weights)) + list(zip(model.non_trainable_variables, states))
        with keras.StatelessScope(state_mapping=mapping, collect_losses=True) as scope:
            first = model.layers[0]
            h = z1 if first.bias is None else keras.ops.add(z1, first.bias)
            if first.activation is not None:
                h = first.activation(h)
            for layer in model.layers[1:]:
                h = layer(h, training=training)
            losses = model.losses
        return h, [scope.get_current_value(v) for v in model.non_trainable_variables], losses

    def seed_tail_loss(self, w1, rest, states, z1, yb):
        """keras' training loss of one batch from its first product (`seed_loss`'s terms)."""
        probs, states, losses = self.tail_call([w1, *rest], states, z1, training=True)
        loss, hits = loss_and_hits(self.spec, yb, probs)
        total = keras.ops.mean(loss)
        for term in losses:
            total = total + term
        return total, (states, keras.ops.sum(hits))

    def seed_tail_scores(self, weights, states, z1, yb):
        """Summed loss (without the penalty) and correct predictions from first products z1."""
        probs, _, _ = self.tail_call(weights, states, z1, training=False)
        loss, hits = loss_and_hits(self.spec, yb, probs)
        return keras.ops.sum(loss), keras.ops.sum(hits)


def bag_sum(table, bags: multihot.BagList):
    """(rows of bags, units): each output row the sum of its table rows, in index order."""
    import torch

    return torch.nn.functional.embedding_bag(torch.from_numpy(bags.table_rows), table, torch.from_numpy(bags.indptr),
                                             mode="sum", include_last_offset=True)


class TorchBagTrainer(TorchVectorisedTrainer):
    """`TorchVectorisedTrainer` with multi-hot inputs kept as CSR matrices and the first
    Dense layer's product and kernel gradient as bag sums (see the module doc)."""

    program_class = BagSeedProgram

    def __init__(self, *args, **kwargs):
        import torch

        super().__init__(*args, **kwargs)
        self.width = int(self.x_train.shape[-1])
        self._tail_scorers = {axis: torch.func.vmap(self.program.seed_tail_scores, in_dims=(0, 0, 0, axis))
                              for axis in (None, 0)}

    def inputs(self, x):
        return scipy.sparse.csr_matrix(x, dtype=np.float32)

    def first_layer_regularized(self) -> bool:
        first = self.model.layers[0]
        return first.kernel_regularizer is not None

    def build_step(self, stack_optimizer):
        import torch

        regularized = self.first_layer_regularized()
        argnums = (0, 1, 3) if regularized else (1, 3)
        tail = torch.func.vmap(torch.func.grad_and_value(self.program.seed_tail_loss, argnums=argnums, has_aux=True),
                               in_dims=(0, 0, 0, 0, 0), randomness="different")
        tail_grads = compiled_torch_step(tail)

        def apply(slots, grads, weights):
            with torch.no_grad():
                return stack_optimizer.stateless_apply(slots, grads, weights)

        apply_update = compiled_torch_step(apply)

        def step(weights, states, slots, forward: multihot.BagList, transposed: multihot.BagList, yb):
            w1 = weights[0]
            seeds, width, units = w1.shape
            with torch.no_grad():
                z1 = bag_sum(w1.reshape(seeds * width, units), forward).view(seeds, -1, units)
            grads, (total, (states, hits)) = tail_grads(w1, weights[1:], states, z1, yb)
            *w1_penalty, rest, dz = grads
            with torch.no_grad():
                dw1 = bag_sum(dz.reshape(-1, units), transposed).view(seeds, width, units)
                if w1_penalty:
                    dw1 = dw1 + w1_penalty[0]
            weights, slots = apply_update(slots, [dw1, *rest], weights)
            return weights, states, slots, total, hits

        return step

    def run_batches(self, batches: np.ndarray):
        import torch

        loss_sum, hit_sum = torch.zeros(self.seeds, dtype=torch.float64), torch.zeros(self.seeds, dtype=torch.float64)
        for idx in batches:
            forward, transposed = multihot.stacked_batch(self.x_train, idx, self.width)
            yb = self.batch(self.y_train, self.y_axis, torch.as_tensor(idx))
            self.weights, self.states, self.slots, total, hits = self._step(
                self.weights, self.states, self.slots, forward, transposed, yb)
            loss_sum += total.detach().double()
            hit_sum += hits.detach().double()
        return loss_sum.numpy(), hit_sum.numpy()

    def evaluate(self, data: tuple[Any, Any]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        x, y = data  # CSR already: `inputs` made validation and test so in __init__
        y_axis = 0 if y.ndim == 2 else None
        n = int(y.shape[-1])
        loss_sum, hit_sum = np.zeros(self.seeds), np.zeros(self.seeds)
        chunk = max(self.spec.batch_size, EVAL_CHUNK // self.seeds)  # sums are order-free
        w1 = self.weights[0]
        seeds, width, units = w1.shape
        with torch.no_grad():
            for start in range(0, n, chunk):
                stop = min(n, start + chunk)
                z1 = bag_sum(w1.reshape(seeds * width, units), multihot.shared(x[start:stop], seeds, width))
                loss, hits = self._tail_scorers[y_axis](self.weights, self.states, z1.view(seeds, stop - start, units),
                                                        y[..., start:stop])
                loss_sum += loss.double().numpy()
                hit_sum += hits.double().numpy()
        return loss_sum / n, hit_sum / n

    def penalty(self) -> np.ndarray:
        import torch

        with torch.no_grad():
            row = torch.zeros((1, self.width), dtype=self.weights[0].dtype)
            return self._penalty(self.weights, self.states, row).double().numpy()


def torch_trainer(spec, models: list[keras.Model], x_train, y_train, x_val, y_val,
                  test: tuple | None = None) -> TorchVectorisedTrainer:
    """The torch trainer for these inputs: bags for multi-hot (CSR) rows into a Dense first
    layer, the dense route otherwise."""
    if scipy.sparse.issparse(x_train) and takes_bags(models[0]):
        return TorchBagTrainer(spec, models, x_train, y_train, x_val, y_val, test)
    return TorchVectorisedTrainer(spec, models, x_train, y_train, x_val, y_val, test)
