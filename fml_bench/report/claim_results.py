"""A claim's result as it is stored and reported: the per-part and per-claim outcome records
(`results.json` holds their `to_dict`), their one-line descriptions, and the verdict names.
The decision that produces them lives in `fml_bench.verdicts`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from fml_bench.records import HISTORY_KEYS, RunRecord

PASS, FAIL, INCONCLUSIVE, MEASURED = "pass", "fail", "inconclusive", "measured"
IDENTICAL_ARMS = "identical arms"  # the test name of the degenerate rule for arms that are the same runs


@dataclass(frozen=True)
class PartResult:
    """One part's outcome. values_*: the metric per seed; estimate and [ci_low, ci_high]: the
    mean difference (or mean; for spreads the sd ratio) with its two-sided interval at
    `confidence`, each tail at the decision's level (NaN when the sample has no spread); p: the
    pass test's p; p_fail: the fail test's p."""

    part_id: str
    says: str
    test: str
    metric: str
    metric_key: str
    a: str
    b: str | None
    values_a: list[float]
    values_b: list[float] | None
    estimate: float
    ci_low: float
    ci_high: float
    p: float
    verdict: str
    p_fail: float = float("nan")
    sesoi: float = float("nan")
    sesoi_source: str = ""
    effect_size: float = float("nan")
    prob_improvement: float = float("nan")
    cross_check_p: float = float("nan")
    fail_level: float = float("nan")  # the level of the fail test: the claim's level / its parts
    confidence: float = 0.95  # of [ci_low, ci_high]: 1 - 2 x the pass test's level (documents before: 95%)

    @classmethod
    def from_dict(cls, d: dict) -> PartResult:
        """From results.json: JSON null stands for NaN in float fields, for absent elsewhere."""
        return cls(**_fields_from_json(cls, d))


@dataclass(frozen=True)
class ClaimResult:
    claim_id: str
    section: str
    statement: str
    book_says: str
    tier: str
    engine: str
    parts: tuple[PartResult, ...]
    verdict: str
    p: float
    level: float
    seeds: int
    wall_seconds: float = 0.0
    p_adjusted: float = float("nan")
    known_divergence: str = ""
    curves: dict[str, dict[str, list[list[float]]]] = field(default_factory=dict)
    datasets: tuple[str, ...] = ()
    kind: str = "claim"
    knockout: str = ""
    first_seed: int = 0
    seed_ledger: tuple[str, ...] = ()  # earlier designs of the claim's plan and the seeds they looked at
    #: fingerprint key -> fingerprint of every stored record the verdict rests on
    environments: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ClaimResult:
        """From results.json (or a pytest-xdist worker's message): the inverse of `to_dict`."""
        kw = _fields_from_json(cls, d)
        kw["parts"] = tuple(PartResult.from_dict(p) for p in d["parts"])
        kw["datasets"] = tuple(kw.get("datasets", ()))
        kw["seed_ledger"] = tuple(kw.get("seed_ledger", ()))
        return cls(**kw)

    def message(self) -> str:
        """The finding in one paragraph, as a report would state it."""
        head = f"{self.claim_id}: {self.verdict.upper()} over {self.seeds} seeds"
        if self.kind == "claim":
            head += f" (p={self.p:.2g}, level {self.level:.2g})"
        if self.knockout:
            head += f" with the knock-out '{self.knockout}'"
        lines = [f"{head}; the book says {self.book_says}"]
        lines += [f"  - [{p.verdict}] {describe_part(p)}" for p in self.parts]
        return "\n".join(lines)


def _fields_from_json(cls, d: dict) -> dict:
    floats = {f.name for f in dataclasses.fields(cls) if f.type == "float"}
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: (float("nan") if v is None and k in floats else v) for k, v in d.items() if k in names}


def percent(confidence: float) -> str:
    """0.95 -> '95%', 0.998 -> '99.8%', 0.99884 -> '99.88%': enough digits to show the tail."""
    if not 0 < confidence < 1:
        return f"{100 * confidence:g}%"
    digits = int(-np.floor(np.log10(1 - confidence))) + 1
    return f"{100 * confidence:.{digits}g}%"


def _centre(p: PartResult):
    """Medians for the sign tests (their estimate is the median seed's), means for older results."""
    if "sign test" in p.test:
        return (lambda v: float(np.median(v))), "median "
    return (lambda v: float(np.mean(v))), ""


def describe_part(p: PartResult) -> str:
    """'<says>: <metric> a vs b: difference d [lo, hi], p=..; smallest effect of interest ..'."""
    mean_a = float(np.mean(p.values_a))
    interval = ("no interval: no spread" if np.isnan(p.ci_low) else
                f"[{p.ci_low:+.4g}, {p.ci_high:+.4g}] ({percent(p.confidence)} interval)")
    if p.test == IDENTICAL_ARMS:
        text = f"{p.says}: {p.metric} identical in {p.a} and {p.b} for every seed ({mean_a:.4g})"
    elif p.test.startswith("Pitman-Morgan"):
        sd_b = float(np.std(p.values_b or [], ddof=1))
        text = (f"{p.says}: {p.metric} sd {np.std(p.values_a, ddof=1):.4g} ({p.a}) vs {sd_b:.4g} ({p.b}): "
                f"ratio {p.estimate:.3g} [{p.ci_low:.3g}, {p.ci_high:.3g}] ({percent(p.confidence)} interval), "
                f"p={p.p:.2g}")
    elif p.values_b is not None:
        centre, what = _centre(p)
        text = (f"{p.says}: {p.metric} {centre(p.values_a):.4g} ({p.a}) vs {centre(p.values_b):.4g} ({p.b}): "
                f"{what}difference {p.estimate:+.4g} {interval}, p={p.p:.2g}")
    else:
        centre, what = _centre(p)
        text = f"{p.says}: {what}{p.metric} of {p.a} {p.estimate:.4g} {interval}, p={p.p:.2g}"
    if not np.isnan(p.sesoi):
        at = "" if np.isnan(p.fail_level) else f" (level {p.fail_level:.2g})"
        text += (f"; fail p={p.p_fail:.2g}{at} against the smallest effect of interest {p.sesoi:.3g} "
                 f"({p.sesoi_source})")
    return text


def curves_of(runs: dict[str, list[RunRecord]]) -> dict[str, dict[str, list[list[float]]]]:
    """Per experiment, per history key, the per-seed curves (for figures)."""
    return {name: {k: [r.history[k] for r in records] for k in HISTORY_KEYS} for name, records in runs.items()}
