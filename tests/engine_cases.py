"""What the exact-reproduction tests of the seed-batching engines share (tests/test_stacked_engine.py
under TensorFlow, tests/backends/ under jax and torch): small specs, keras' own fit without
shuffling. Their multi-hot stand-in for IMDB is the `multi_hot_data` fixture (tests/conftest.py)."""

from __future__ import annotations

from fml_bench.experiments import get_spec
from fml_bench.inputs import prepare
from fml_bench.protocol import compile_model
from fml_bench.seeding import seed_everything

CASES = {
    "dense-rmsprop": get_spec("mnist-96-96", "fast").with_(name="t1", train_size=400, epochs=3),
    "softmax-lr": get_spec("mnist-rmsprop-lr1e-2", "fast").with_(name="t2", train_size=300, epochs=2),
    "l2-sigmoid": get_spec("mnist-logreg", "fast").with_(name="t3", train_size=300, epochs=2),
}


def keras_fit_without_shuffle(spec, seed: int) -> dict:
    seed_everything(seed)
    x, y = prepare(spec, seed)
    model = compile_model(spec)
    h = model.fit(x, y, epochs=spec.epochs, batch_size=spec.batch_size, validation_split=spec.validation_split,
                  shuffle=False, verbose=0)
    return h.history


def apply_once(optimizer, megabytes: int = 64) -> None:
    """One compiled step of `optimizer` on a fresh `megabytes` variable, the function and the
    variable dropped afterwards: the probe of what a finished stack leaves behind
    (`fml_bench.memory.retained_bytes`)."""
    import keras
    import numpy as np
    import tensorflow as tf

    side = int((megabytes * 2**20 / 4) ** 0.5)
    variable = keras.Variable(np.zeros((side, side), np.float32))
    optimizer.build([variable])

    @tf.function(jit_compile=True)
    def step():
        optimizer.apply([tf.ones((side, side))], [variable])

    step()


def keras_optimizer_step() -> None:
    """`apply_once` with keras' RMSprop as keras applies it (the framework sentinel's job)."""
    import keras

    apply_once(keras.optimizers.RMSprop(1e-3))


def engine_optimizer_step() -> None:
    """`apply_once` with RMSprop as the stacked engine applies it."""
    import keras

    from fml_bench.engine import stacked

    apply_once(stacked.without_distribution(keras.optimizers.RMSprop(1e-3)))


def finished_stack() -> None:
    """One stack of two seeds trained for an epoch on a fresh 100 MB training array, then dropped."""
    import numpy as np

    from fml_bench.engine import stacked, stacking

    spec = get_spec("mnist-logreg", "fast").with_(name="retained", train_size=None, epochs=1)
    rng = np.random.default_rng(0)
    x = rng.random((40000, 784), dtype=np.float32)
    y = rng.integers(0, 10, 40000)
    models = stacking.initial_models(spec, [0, 1], 784)
    trainer = stacked.StackedTrainer(spec, stacked.StackedNet(models, 784), x[:32000], y[:32000], x[32000:], y[32000:])
    trainer.fit([0, 1])
