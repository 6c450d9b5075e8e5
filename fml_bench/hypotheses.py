"""Typed hypotheses: the parts a claim is built from, each checked when it is constructed.

A part states one thing about one metric per seed of one experiment (or the paired
difference of two experiments run on the same seeds), with the smallest effect of interest
(SESOI) that separates "the phenomenon is there" from "it is gone", per tier and with its
source. Build parts with `greater`, `less`, `within` and `less_spread`; a wrong field is a
`ValueError` naming the field and the value received.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from fml_bench.errors import UnknownNameError
from fml_bench.metrics import Metric


class Direction(enum.Enum):
    """Which way the book says the effect goes."""

    GREATER = 1
    LESS = -1

    @property
    def sign(self) -> float:
        return float(self.value)


class Kind(enum.Enum):
    """What a part tests.

    DIFFERENCE: the oriented effect sign * (mean(a - b) - null) (or of a alone) exceeds zero.
    WITHIN: the mean of a (minus b) lies within null +/- half_width (an equivalence band).
    LESS_SPREAD: a varies less over seeds than b (paired); the effect is log(sd(b) / sd(a)).
    """

    DIFFERENCE = "difference"
    WITHIN = "within"
    LESS_SPREAD = "less-spread"


#: The key of a SESOI that holds at every tier (a figure the book gives, whatever the scale).
EVERY_TIER = "every tier"


@dataclass(frozen=True)
class Sesoi:
    """A smallest effect of interest on the part's oriented scale, and where it comes from
    (the book's figure, or a measurement named with its tier and seeds)."""

    value: float
    source: str

    def __post_init__(self) -> None:
        if not (isinstance(self.value, (int, float)) and math.isfinite(self.value) and self.value > 0):
            raise ValueError(f"Sesoi.value must be a finite number > 0, got {self.value!r}")
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValueError(f"Sesoi.source must say where the value comes from, got {self.source!r}")


_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Part:
    """One hypothesis of a claim. Use the constructors below rather than this class."""

    id: str
    says: str
    metric: Metric
    a: str
    kind: Kind
    sesoi: Mapping[str, Sesoi]
    direction: Direction = Direction.GREATER
    b: str | None = None
    metric_b: Metric | None = None
    null: float = 0.0
    half_width: float = 0.0

    def __post_init__(self) -> None:
        _require(isinstance(self.id, str) and bool(_ID.match(self.id)), "id", self.id,
                 "a lower-case slug such as 'late-val-loss'")
        _require(isinstance(self.says, str) and bool(self.says.strip()), "says", self.says, "a sentence")
        _require(isinstance(self.metric, Metric), "metric", self.metric, "a fml_bench.metrics.Metric")
        _require(self.metric_b is None or isinstance(self.metric_b, Metric), "metric_b", self.metric_b,
                 "a Metric or None")
        _require(isinstance(self.a, str) and bool(self.a), "a", self.a, "an experiment name")
        _require(self.b is None or (isinstance(self.b, str) and bool(self.b)), "b", self.b,
                 "an experiment name or None")
        _require(isinstance(self.kind, Kind), "kind", self.kind, "a Kind")
        _require(isinstance(self.direction, Direction), "direction", self.direction, "a Direction")
        _require(math.isfinite(self.null), "null", self.null, "a finite number")
        _require(isinstance(self.sesoi, Mapping) and bool(self.sesoi), "sesoi", self.sesoi,
                 "a mapping tier -> Sesoi with at least one tier")
        for tier, value in self.sesoi.items():
            _require(isinstance(value, Sesoi), f"sesoi[{tier!r}]", value, "a Sesoi")
        if self.kind is Kind.WITHIN:
            _require(math.isfinite(self.half_width) and self.half_width > 0, "half_width", self.half_width,
                     "a number > 0 (the band's half-width)")
        if self.kind is Kind.LESS_SPREAD:
            _require(self.b is not None, "b", self.b, "the experiment whose spread a is compared with")

    def experiments(self) -> list[str]:
        return [self.a] + ([self.b] if self.b else [])

    def sesoi_for(self, tier: str) -> Sesoi:
        """The SESOI of `tier`: its own, or the one stated for every tier (EVERY_TIER, a figure
        from the book that does not depend on the scale). A tier that neither names is refused,
        never given another tier's number silently."""
        if tier in self.sesoi:
            return self.sesoi[tier]
        if EVERY_TIER in self.sesoi:
            return self.sesoi[EVERY_TIER]
        raise UnknownNameError(f"part {self.id!r} has no smallest effect of interest for tier {tier!r}: give it "
                               f"one in fml_bench/claims.py (per_tier), or state one for every tier")

    @property
    def discrete(self) -> bool:
        return self.metric.discrete or (self.metric_b is not None and self.metric_b.discrete)


def _require(ok: bool, name: str, value: object, expected: str) -> None:
    if not ok:
        raise ValueError(f"part field {name!r}: expected {expected}, got {value!r}")


def greater(id: str, says: str, metric: Metric, a: str, b: str | None = None, *, than: float = 0.0,
            sesoi: Mapping[str, Sesoi], metric_b: Metric | None = None) -> Part:
    """metric(a) - metric_b(b) (or metric(a) alone) exceeds `than`, by at least the SESOI."""
    return Part(id=id, says=says, metric=metric, a=a, b=b, metric_b=metric_b, kind=Kind.DIFFERENCE,
                direction=Direction.GREATER, null=than, sesoi=sesoi)


def less(id: str, says: str, metric: Metric, a: str, b: str | None = None, *, than: float = 0.0,
         sesoi: Mapping[str, Sesoi], metric_b: Metric | None = None) -> Part:
    """metric(a) - metric_b(b) (or metric(a) alone) lies below `than`, by at least the SESOI."""
    return Part(id=id, says=says, metric=metric, a=a, b=b, metric_b=metric_b, kind=Kind.DIFFERENCE,
                direction=Direction.LESS, null=than, sesoi=sesoi)


def within(id: str, says: str, metric: Metric, a: str, *, center: float, half_width: float, source: str,
           b: str | None = None, metric_b: Metric | None = None) -> Part:
    """The mean of metric(a) (minus metric_b(b)) lies within center +/- half_width; the band is
    the SESOI of every tier (`source` says where it comes from)."""
    _require(math.isfinite(half_width) and half_width > 0, "half_width", half_width,
             "a number > 0 (the band's half-width)")
    return Part(id=id, says=says, metric=metric, a=a, b=b, metric_b=metric_b, kind=Kind.WITHIN,
                null=center, half_width=half_width, sesoi={EVERY_TIER: Sesoi(half_width, source)})


def less_spread(id: str, says: str, metric: Metric, a: str, b: str, *, sesoi: Mapping[str, Sesoi]) -> Part:
    """metric(a) varies less over seeds than metric(b), paired by seed; the SESOI is on the
    scale log(sd(b) / sd(a)) (log 2: half the spread)."""
    return Part(id=id, says=says, metric=metric, a=a, b=b, kind=Kind.LESS_SPREAD, sesoi=sesoi)
