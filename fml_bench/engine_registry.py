"""The engines as data: their names, numbered changes (versions), whether they batch seeds, the
Keras backends they run under, and where their code lives, without importing that code.

The run store and the provenance of a record read engine names and versions from here, below
the engines themselves (`fml_bench/engine/`); a third-party engine registers through the
entry-point group ENTRY_POINT_GROUP (docs/extending.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fml_bench.errors import UnknownNameError
from fml_bench.experiments import ExperimentSpec

#: The Keras backends fml-bench knows (`--keras-backend`); each engine lists those it runs under.
KERAS_BACKENDS = ("tensorflow", "jax", "torch")


def every_spec(spec: ExperimentSpec) -> bool:
    return True


@dataclass(frozen=True)
class EngineChange:
    """A change of an engine's numbers: from `version` on, records of the specs it `touches`
    differ from earlier ones for the same seed. A spec the change does not touch keeps the
    version of its records (they are still read), so a fix to one mechanism retrains only the
    experiments that use it."""

    version: int
    what: str
    touches: Callable[[ExperimentSpec], bool] = every_spec


@dataclass(frozen=True)
class EngineInfo:
    """One registered engine.

    changes: its numbered changes, oldest first; the engine's version is the last one's, and a
    spec's records are filed under the last change that touches it (`record_version`).
    Stored records of an older version stay on disk but are no longer read. batches_seeds: the
    engine trains many seeds of a spec at once, so the runner hands it every missing seed.
    module: where `run_seeds(spec, seeds)` lives, imported only when the engine is used.
    """

    name: str
    changes: tuple[EngineChange, ...]
    batches_seeds: bool
    module: str
    summary: str
    backends: tuple[str, ...] = ("tensorflow",)  # Keras backends it runs under (KERAS_BACKEND)

    def __post_init__(self) -> None:
        numbers = [c.version for c in self.changes]
        if not numbers or numbers != sorted(set(numbers)):
            raise ValueError(f"engine {self.name!r}: changes must be numbered in increasing order, got {numbers}")

    @property
    def version(self) -> int:
        """The engine's current version: its last change's."""
        return self.changes[-1].version

    def record_version(self, spec: ExperimentSpec) -> int:
        """The version `spec`'s records are filed under: the last change that touches it."""
        return next(c.version for c in reversed(self.changes) if c.touches(spec))

    def live_versions(self) -> set[int]:
        """Every version some spec's records are still read under."""
        last_total = max(c.version for c in self.changes if c.touches is every_spec)
        return {c.version for c in self.changes if c.version >= last_total}


ENGINES: dict[str, EngineInfo] = {}


def register(info: EngineInfo) -> EngineInfo:
    """Add an engine; the CLI's and plugin's choices, store folders and chunking follow."""
    ENGINES[info.name] = info
    return info


def _uses_dropout(spec: ExperimentSpec) -> bool:
    from fml_bench.models import has_dropout

    return has_dropout(spec.model)


def _bags_of_words(spec: ExperimentSpec) -> bool:
    from fml_bench import kinds

    return kinds.multi_hot_input(spec.dataset, spec.recipe)


def _cross_validates(spec: ExperimentSpec) -> bool:
    from fml_bench import kinds

    return kinds.protocol(spec.protocol).cross_validates  # K-fold and shuffled hold-out share the fold path


def zero_channel_input(spec: ExperimentSpec) -> bool:
    """The recipe appends all-zero columns (listing 5.1), which the stacked engine's first layer
    leaves out (`engine.stacked.live_width`)."""
    return spec.recipe == "zero-channels"


def _bags_under_torch(spec: ExperimentSpec) -> bool:
    return keras_backend() == "torch" and _bags_of_words(spec)


register(EngineInfo(
    "reference",
    (EngineChange(2, "reshuffles every epoch"),
     EngineChange(3, "penalty curve, test-split scores, majority class from the training labels")),
    False, "fml_bench.engine.reference", "plain model.fit per seed, the book's code",
    backends=KERAS_BACKENDS,
))
register(EngineInfo(
    "stacked",
    (EngineChange(2, "penalty curve, test-split scores, majority class from the training labels"),
     EngineChange(3, "dropout masks drawn per seed from its own model's generator (they depended on the "
                     "chunk of seeds trained together)", touches=_uses_dropout),
     EngineChange(4, "K-fold folds of unequal size train as stacks grouped by size (they fell back to the "
                     "reference engine)", touches=_cross_validates),
     EngineChange(5, "IMDB's first layer as bag sums of kernel rows (engine/bags.py) at every width: the "
                     "512-unit layer was a dense matmul, the narrow ones a sparse matmul (other rounding)",
                  touches=_bags_of_words),
     EngineChange(6, "IMDB's 256 most frequent words as a dense block, the rest as bags (other rounding)",
                  touches=_bags_of_words),
     EngineChange(7, "the first layer leaves out the zero-channels recipe's all-zero columns (other rounding)",
                  touches=zero_channel_input)),
    True, "fml_bench.engine.stacked", "many seeds of a spec in one TensorFlow graph",
))

register(EngineInfo(
    "vectorised",
    (EngineChange(1, "Keras' stateless API vmapped over seeds (jax, torch)"),
     EngineChange(2, "under torch, IMDB's first layer as bag sums of kernel rows (engine/vectorised_bags.py; "
                     "other rounding)", touches=_bags_under_torch)),
    True, "fml_bench.engine.vectorised", "many seeds of a spec as one vmap of Keras' stateless API",
    backends=("jax", "torch"),
))

ENTRY_POINT_GROUP = "fml_bench.engines"


def load_plugins() -> list[str]:
    """Register the engines other packages expose under ENTRY_POINT_GROUP (an `EngineInfo`, or a
    callable returning one); returns their names. A plug-in that cannot be loaded, or that
    reuses a registered name, is skipped with a warning naming it: the built-in engines still run."""
    import warnings
    from importlib.metadata import entry_points

    names = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            info = point.load()
            info = info() if callable(info) and not isinstance(info, EngineInfo) else info
            if not isinstance(info, EngineInfo):
                raise TypeError(f"it is a {type(info).__name__}, not an fml_bench.engine_registry.EngineInfo")
            if info.name in ENGINES and ENGINES[info.name] is not info:
                raise ValueError(f"an engine named {info.name!r} is already registered")
        except Exception as exc:  # a broken plug-in must not stop the built-in engines
            warnings.warn(f"fml-bench: engine plug-in {point.name!r} ({point.value}) skipped: {exc}", stacklevel=2)
            continue
        register(info)
        names.append(info.name)
    return names


load_plugins()

KERAS_BACKEND_ENV = "KERAS_BACKEND"


def keras_backend() -> str:
    """The Keras backend this process runs (keras' own answer once keras is imported)."""
    import sys

    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    import os

    return os.environ.get(KERAS_BACKEND_ENV, "tensorflow")


def default_engine(preferred: str) -> str:
    """`preferred` (a tier's engine) when it runs under this process's Keras backend, else the
    first registered engine that does and batches seeds, else the first that does (the stacked
    engine is TensorFlow-only: under jax a tier runs the vectorised engine, under torch the
    reference engine, rather than refusing to start)."""
    backend = keras_backend()
    if backend in engine_info(preferred).backends:
        return preferred
    able = sorted((e for e in ENGINES.values() if backend in e.backends), key=lambda e: not e.batches_seeds)
    return able[0].name if able else preferred


def engine_names() -> list[str]:
    """Registered engine names, in registration order."""
    return list(ENGINES)


def engine_info(name: str) -> EngineInfo:
    """The registration of `name`; an UnknownNameError lists the known ones."""
    try:
        return ENGINES[name]
    except KeyError:
        raise UnknownNameError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}") from None


def engine_version(name: str, spec: ExperimentSpec | None = None) -> int:
    """The registered version of engine `name`; with `spec`, the version its records are
    filed under (see `EngineChange`)."""
    info = engine_info(name)
    return info.version if spec is None else info.record_version(spec)
