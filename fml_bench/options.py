"""Option values shared by the command line and the pytest plugin: parsed and checked in one
place, so `--seeds 0` or `--alpha 2` are refused the same way by both (before any training)."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def alpha(value: str) -> float:
    """A family-wise error rate: a number strictly between 0 and 1."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--alpha takes a number between 0 and 1, got {value!r}") from None
    if not (math.isfinite(number) and 0 < number < 1):
        raise argparse.ArgumentTypeError(f"--alpha takes a number between 0 and 1 (exclusive), got {value!r}")
    return number


#: The most seeds one run takes: the largest plan is 512 seeds (the K-fold claims at book scale);
#: 4,096 is 8x that, days of training for most experiments, and far below what runs out of memory.
MAX_SEEDS = 4096
#: Seeds are NumPy/Keras seeds, which must lie below 2**32.
SEED_SPACE = 2**32


#: The stacked engine's memory budget per stack in GB (default: see engine.stacked.memory_budget_bytes).
STACK_MEMORY_ENV = "FML_BENCH_STACK_GB"


def stack_memory_gb() -> float | None:
    """$FML_BENCH_STACK_GB as a number of GB > 0, or None when unset; read and checked here only
    (the CLI checks it before any training, the stacked engine uses it)."""
    value = os.environ.get(STACK_MEMORY_ENV)
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        from fml_bench.errors import FmlBenchError

        raise FmlBenchError(f"${STACK_MEMORY_ENV} takes a number of gigabytes > 0, got {value!r}")
    return number


def seed_plan(value: str) -> tuple[int, ...]:
    """Seeds per arm at each look: 'N' (one look) or 'N1,N2,...' (increasing, each at least 2,
    at most MAX_SEEDS); a repeated count is one look ('10,10' is '10')."""
    try:
        parts = [int(v) for v in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes N or N1,N2,... (whole numbers), got {value!r}") from None
    if min(parts) < 2 or any(b < a for a, b in zip(parts, parts[1:])):
        raise argparse.ArgumentTypeError(f"--seeds takes N or increasing N1,N2,... each at least 2, got {value!r}")
    if parts[-1] > MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"--seeds takes at most {MAX_SEEDS} seeds, got {value!r}")
    from fml_bench.stats import distinct_looks

    return distinct_looks(parts)


def seed_count(value: str) -> int:
    """How many seeds `run` trains: 1 to MAX_SEEDS."""
    number = int_at_least(1)(value)
    if number > MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_SEEDS} seeds, got {value!r}")
    return number


def first_seed(value: str) -> int:
    """The first seed of a run: 0 <= seed < 2**32 (NumPy's and Keras' seed space)."""
    number = int_at_least(0)(value)
    if number >= SEED_SPACE:
        raise argparse.ArgumentTypeError(f"seeds lie below 2**32 = {SEED_SPACE}, got {value!r}")
    return number


def int_at_least(minimum: int):
    """An argparse type: a whole number >= `minimum`."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = minimum - 1
        if number < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {value!r}")
        return number

    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)

#: `fml-bench check`'s worker processes: a number, or "auto" (`parallel.workers_for`).
WORKERS_ENV = "FML_BENCH_WORKERS"
AUTO = "auto"


def workers(value: str) -> int | str:
    """'auto' or a whole number >= 1 (how many processes train a check's seeds)."""
    if value == AUTO:
        return AUTO
    try:
        return positive_int(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"--workers takes 'auto' or a whole number >= 1 (${WORKERS_ENV}), "
                                         f"got {value!r}") from None


@dataclass(frozen=True)
class Option:
    """One option both faces offer: declared once, added to argparse and to pytest alike.

    choices and default are callables, so that registries (tiers, engines) and environment
    variables are read when the parser is built, not when this module is imported."""

    flag: str
    help: str
    type: Callable[[str], Any] | None = None
    choices: Callable[[], list[str]] | None = None
    default: Callable[[], Any] = lambda: None

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"help": self.help, "default": self.default()}
        if self.type is not None:
            out["type"] = self.type
        if self.choices is not None:
            out["choices"] = self.choices()
        return out


def _tiers() -> list[str]:
    from fml_bench.tiers import TIERS

    return list(TIERS)


def _engines() -> list[str]:
    from fml_bench.engine_registry import engine_names

    return engine_names()


def _keras_backends() -> list[str]:
    from fml_bench.engine_registry import KERAS_BACKENDS

    return list(KERAS_BACKENDS)


def _env(name: str) -> Callable[[], str | None]:
    return lambda: os.environ.get(name) or None


SUITE_OPTIONS: tuple[Option, ...] = (
    Option("--tier", "scale tier (default: fast; $FML_BENCH_TIER)", choices=_tiers),
    Option("--engine", "training engine ($FML_BENCH_ENGINE; default: the tier's)", choices=_engines,
           default=_env("FML_BENCH_ENGINE")),
    Option("--keras-backend", "Keras backend ($KERAS_BACKEND); jax and torch run the vectorised engine by default",
           choices=_keras_backends),
    Option("--seeds", "seeds per arm: N, or N1,N2,... for a look after each (default: each claim's plan)",
           type=seed_plan),
    Option("--alpha", "family-wise error rate of the run (0.05)", type=alpha, default=lambda: 0.05),
    Option("--report-dir", "reports folder ($FML_BENCH_REPORTS)"),
    Option("--baseline", "results.json (or report folder) of a previous run to compare with; read before training"),
)


#: The pytest plugin loads into every pytest session of an environment that has fml-bench
#: installed, so its options carry a prefix (as pytest-benchmark's `--benchmark-*`) and cannot
#: collide with another plugin's `--seeds` or `--baseline`; the CLI's are unprefixed.
PYTEST_PREFIX = "--fml-"


#: Where the data and the runs are (`fml-bench` takes them before or after the command).
LOCATION_OPTIONS: tuple[Option, ...] = (
    Option("--data-dir", "dataset folder searched first ($FML_BENCH_DATA)"),
    Option("--store-dir", "run store folder or URL ($FML_BENCH_STORE)"),
)

_UNSET = object()


def add_options(add: Callable[..., Any], only: tuple[str, ...] | None = None, prefix: str = "--",
                declared: tuple[Option, ...] = SUITE_OPTIONS, default: Any = _UNSET) -> None:
    """Add `declared` options (SUITE_OPTIONS, or LOCATION_OPTIONS; those named in `only`) with
    `add(flag, **kwargs)`: argparse's `add_argument` (prefix `--`) or pytest's
    `group.addoption` (prefix PYTEST_PREFIX). `default` overrides every option's default."""
    for option in declared:
        if only is None or option.flag in only:
            kwargs = option.kwargs() if default is _UNSET else {**option.kwargs(), "default": default}
            add(prefix + option.flag.removeprefix("--"), **kwargs)
