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
