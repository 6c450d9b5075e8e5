"""The book's models, layer for layer (DLwP 2nd ed., chapter 5).

Each builder returns an uncompiled `keras.Sequential`; `experiments.compile_model` adds the
optimizer, loss and metrics named in the spec.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import keras
from keras import layers, regularizers

from fml_bench.errors import UnknownNameError


def mnist_dense512() -> keras.Sequential:
    """Listings 5.2, 5.4, 5.7, 5.8: Dense(512, relu) -> Dense(10, softmax)."""
    return keras.Sequential(
        [layers.Dense(512, activation="relu"), layers.Dense(10, activation="softmax")]
    )


def mnist_logreg() -> keras.Sequential:
    """Listing 5.9: a logistic regression, Dense(10, softmax)."""
    return keras.Sequential([layers.Dense(10, activation="softmax")])


def mnist_96_96() -> keras.Sequential:
    """Section 5.3.3: Dense(96, relu) -> Dense(96, relu) -> Dense(10, softmax)."""
    return keras.Sequential(
        [
            layers.Dense(96, activation="relu"),
            layers.Dense(96, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )


def _imdb(units: int, regularizer=None, dropout: float | None = None) -> keras.Sequential:
    stack: list[layers.Layer] = []
    for _ in range(2):
        stack.append(layers.Dense(units, kernel_regularizer=regularizer, activation="relu"))
        if dropout is not None:
            stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(1, activation="sigmoid"))
    return keras.Sequential(stack)


def imdb_16_16() -> keras.Sequential:
    """Listing 5.10, the original IMDB model: Dense(16) -> Dense(16) -> Dense(1, sigmoid)."""
    return _imdb(16)


def imdb_4_4() -> keras.Sequential:
    """Listing 5.11, lower capacity: Dense(4) -> Dense(4) -> Dense(1, sigmoid)."""
    return _imdb(4)


def imdb_512_512() -> keras.Sequential:
    """Listing 5.12, higher capacity: Dense(512) -> Dense(512) -> Dense(1, sigmoid)."""
    return _imdb(512)


def imdb_16_16_l2(l2: float = 0.002) -> keras.Sequential:
    """Listing 5.13: the original model with `regularizers.l2(0.002)` on both hidden layers
    (`l2` = 0 is the claim's knock-out: the regularizer is there and does nothing)."""
    return _imdb(16, regularizer=regularizers.l2(l2))


def imdb_16_16_l1() -> keras.Sequential:
    """Listing 5.14: the original model with `regularizers.l1(0.001)`."""
    return _imdb(16, regularizer=regularizers.l1(0.001))


def imdb_16_16_l1_l2() -> keras.Sequential:
    """Listing 5.14: the original model with `regularizers.l1_l2(l1=0.001, l2=0.001)`."""
    return _imdb(16, regularizer=regularizers.l1_l2(l1=0.001, l2=0.001))


def imdb_16_16_dropout(rate: float = 0.5) -> keras.Sequential:
    """Listing 5.15: the original model with Dropout(0.5) after each hidden layer (`rate` = 0
    is the claim's knock-out: the layers are there and drop nothing)."""
    return _imdb(16, dropout=rate)


BUILDERS: dict[str, Callable[..., keras.Sequential]] = {
    f.__name__: f
    for f in (
        mnist_dense512,
        mnist_logreg,
        mnist_96_96,
        imdb_16_16,
        imdb_4_4,
        imdb_512_512,
        imdb_16_16_l2,
        imdb_16_16_l1,
        imdb_16_16_l1_l2,
        imdb_16_16_dropout,
    )
}


def build(name: str, options: Mapping[str, float] | None = None) -> keras.Sequential:
    """A fresh model from the builder registered under `name`, called with `options`
    (keyword arguments such as `l2` or `rate`; none gives the book's model)."""
    try:
        builder = BUILDERS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown model {name!r}; known models: {', '.join(sorted(BUILDERS))}"
        ) from None
    try:
        return builder(**dict(options or {}))
    except TypeError as exc:
        raise UnknownNameError(f"model {name!r} takes no option among {sorted(options or {})}: {exc}") from None


@functools.cache
def has_dropout(name: str) -> bool:
    """Whether the book's model `name` has a Dropout layer (built, never trained)."""
    return any(isinstance(layer, layers.Dropout) for layer in build(name).layers)
