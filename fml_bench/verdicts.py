"""Verdicts: a part's test on per-seed values, and a claim's verdict from its parts.

Each part has an oriented effect (positive in the book's direction) and a smallest effect of
interest (SESOI) for the tier. Two one-sided tests at the same level decide:

- *fail* when the effect is shown to lie below the SESOI (the phenomenon is gone, or much
  smaller than the book says); this takes precedence, so a real but negligible effect fails;
- *pass* when the effect is shown to lie above the null boundary (zero);
- *inconclusive* otherwise.

Continuous metrics use Student's t; discrete ones (epochs) the exact sign-flip permutation
test; spreads of paired arms the Pitman-Morgan test. Stated rules for degenerate samples:
identical arms (both arms are the same computation: the same spec hash, seed and engine for
every seed, as when a knock-out turns one arm into the other, and the same values) have an
effect known exactly, fail if it is short of the SESOI; arms of different runs whose values
merely coincide, and the same spec whose values differ by rounding (trained in stacks of another
size), go through the test like any others; a sample without spread gets the exact sign test and no interval. A
claim passes when all its parts pass and fails when any part fails (intersection-union: its p
is the largest of its parts').
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from fml_bench import stats
from fml_bench.hypotheses import Kind, Part
from fml_bench.records import HISTORY_KEYS, RunRecord

PASS, FAIL, INCONCLUSIVE, MEASURED = "pass", "fail", "inconclusive", "measured"
IDENTICAL_ARMS = "identical arms"


@dataclass(frozen=True)
class PartResult:
    """One part's outcome. values_*: the metric per seed; estimate and [ci_low, ci_high]: the
    mean difference (or mean; for spreads the sd ratio) with its 95% interval (NaN when the
    sample has no spread); p: the pass test's p; p_fail: the fail test's p."""

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


def describe_part(p: PartResult) -> str:
    """'<says>: <metric> a vs b: difference d [lo, hi], p=..; smallest effect of interest ..'."""
    mean_a = float(np.mean(p.values_a))
    interval = "no interval: no spread" if np.isnan(p.ci_low) else f"[{p.ci_low:+.4g}, {p.ci_high:+.4g}]"
    if p.test == IDENTICAL_ARMS:
        text = f"{p.says}: {p.metric} identical in {p.a} and {p.b} for every seed ({mean_a:.4g})"
    elif p.test.startswith("Pitman-Morgan"):
        sd_b = float(np.std(p.values_b or [], ddof=1))
        text = (f"{p.says}: {p.metric} sd {np.std(p.values_a, ddof=1):.4g} ({p.a}) vs {sd_b:.4g} ({p.b}): "
                f"ratio {p.estimate:.3g} [{p.ci_low:.3g}, {p.ci_high:.3g}], p={p.p:.2g}")
    elif p.values_b is not None:
        text = (f"{p.says}: {p.metric} {mean_a:.4g} ({p.a}) vs {np.mean(p.values_b):.4g} ({p.b}): "
                f"difference {p.estimate:+.4g} {interval}, p={p.p:.2g}")
    else:
        text = f"{p.says}: {p.metric} of {p.a} {mean_a:.4g} {interval}, p={p.p:.2g}"
    if not np.isnan(p.sesoi):
        text += f"; fail p={p.p_fail:.2g} against the smallest effect of interest {p.sesoi:.3g} ({p.sesoi_source})"
    return text


def _verdict(p_pass: float, p_fail: float, level: float) -> str:
    if p_fail < level:
        return FAIL
    return PASS if p_pass < level else INCONCLUSIVE


def part_values(part: Part, runs: dict[str, list[RunRecord]]) -> tuple[np.ndarray, np.ndarray | None]:
    """The part's metric per seed in each arm (records of both arms in the same seed order)."""
    a = np.array([part.metric(r) for r in runs[part.a]])
    if part.b is None:
        return a, None
    if [r.seed for r in runs[part.a]] != [r.seed for r in runs[part.b]]:
        raise ValueError(f"arms {part.a} and {part.b} are not paired by seed")
    return a, np.array([(part.metric_b or part.metric)(r) for r in runs[part.b]])


def same_runs(part: Part, runs: dict[str, list[RunRecord]]) -> bool:
    """True when the part's two arms are the very same runs seed for seed (the same spec hash,
    seed and engine) measured by the same metric: a knock-out that turned one arm into the other.
    Equal metric values of different runs are not enough."""
    if part.b is None or (part.metric_b is not None and part.metric_b != part.metric):
        return False
    return all((ra.spec_hash, ra.seed, ra.engine) == (rb.spec_hash, rb.seed, rb.engine)
               for ra, rb in zip(runs[part.a], runs[part.b], strict=True))


def decide_part(part: Part, a: np.ndarray, b: np.ndarray | None, tier: str, level: float,
                interval: bool = True, same_runs: bool = False) -> PartResult:
    """Test one part on per-seed values `a` (and `b`, paired) at `level` for both verdicts
    (`interval` False skips the permutation interval, which decides nothing: for simulations).
    `same_runs`: the two arms are the same computation (see `same_runs`); when their values are
    also equal on every seed the effect is known exactly. The same spec trained in stacks of
    another size can differ by rounding: then the values go through the test like any others."""
    sesoi = part.sesoi_for(tier)
    common = dict(part_id=part.id, says=part.says, metric=part.metric.name, metric_key=part.metric.key,
                  a=part.a, b=part.b, values_a=a.tolist(), values_b=None if b is None else b.tolist(),
                  sesoi=sesoi.value, sesoi_source=sesoi.source)
    if same_runs and b is not None and np.array_equal(a, b):
        return _identical_arms(part, a, sesoi.value, common)
    if part.kind is Kind.LESS_SPREAD:
        return _spread(a, b, sesoi.value, level, common)
    diff = a - b if b is not None else a
    if part.kind is Kind.WITHIN:
        return _within(part, diff, level, common)
    return _difference(part, a, b, diff, level, common, sesoi.value, interval)


def _identical_arms(part: Part, a: np.ndarray, sesoi: float, common: dict) -> PartResult:
    """The arms are the same runs (or exact copies): the effect is known without error."""
    if part.kind is Kind.DIFFERENCE:
        effect = -part.direction.sign * part.null
    elif part.kind is Kind.LESS_SPREAD:
        effect = 0.0
    else:
        effect = part.half_width - abs(part.null)
    verdict = FAIL if effect < sesoi else INCONCLUSIVE
    return PartResult(test=IDENTICAL_ARMS, estimate=0.0, ci_low=float("nan"), ci_high=float("nan"),
                      p=1.0, p_fail=0.0 if verdict == FAIL else 1.0, verdict=verdict, **common)


def _difference(part: Part, a, b, diff, level: float, common: dict, sesoi: float, interval: bool) -> PartResult:
    sign = part.direction.sign
    oriented = sign * (diff - part.null)
    if part.discrete:
        shown = stats.sign_flip_test(diff, part.null, "two-sided", interval=interval)
        p_pass = stats.sign_flip_p(oriented, 0.0, "greater")
        p_fail = stats.sign_flip_p(oriented, sesoi, "less")
        cross = stats.wilcoxon_p(oriented, np.zeros_like(oriented))
    else:
        shown = stats.one_sample_t(diff, part.null, "two-sided")
        p_pass = stats.one_sample_t(oriented, 0.0, "greater").p
        p_fail = stats.one_sample_t(oriented, sesoi, "less").p
        cross = stats.sign_flip_p(oriented, 0.0, "greater")
    kind = "paired" if b is not None else "one-sample"
    return PartResult(
        test=f"{kind} {shown.test if shown.test != 'one-sample t' else 't'} ({part.direction.name.lower()})",
        estimate=shown.estimate, ci_low=shown.ci_low, ci_high=shown.ci_high, p=p_pass, p_fail=p_fail,
        verdict=_verdict(p_pass, p_fail, level),
        effect_size=stats.cohens_d_paired(oriented, np.zeros_like(oriented)) if np.ptp(oriented) > 0 else float("nan"),
        prob_improvement=stats.prob_improvement(sign * a, sign * b) if b is not None else float("nan"),
        cross_check_p=cross, **common,
    )


def _within(part: Part, diff, level: float, common: dict) -> PartResult:
    """TOST for the band; fail when the mean is shown to lie outside it (on either side, the
    two one-sided p-values Bonferroni-combined)."""
    low_edge, high_edge = part.null - part.half_width, part.null + part.half_width
    res = stats.tost_one_sample(diff, part.null, part.half_width)
    above = stats.one_sample_t(diff, high_edge, "greater").p
    below = stats.one_sample_t(diff, low_edge, "less").p
    p_fail = min(1.0, 2 * min(above, below))
    shown = stats.one_sample_t(diff, part.null, "two-sided")
    return PartResult(test="TOST", estimate=res.estimate, ci_low=shown.ci_low, ci_high=shown.ci_high, p=res.p,
                      p_fail=p_fail, verdict=_verdict(res.p, p_fail, level), **common)


def _spread(a, b, sesoi: float, level: float, common: dict) -> PartResult:
    """Pitman-Morgan on the paired arms: pass when sd(a) < sd(b); fail when sd(a)/sd(b) is shown
    above exp(-sesoi) (the spread shrinks by less than the smallest effect of interest)."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:  # stated rule: an arm without spread cannot be compared
        return PartResult(test="Pitman-Morgan (an arm has no spread)", estimate=float("nan"), ci_low=float("nan"),
                          ci_high=float("nan"), p=1.0, p_fail=1.0, verdict=INCONCLUSIVE, **common)
    res = stats.pitman_morgan(a, b, "less")
    boundary = float(np.exp(-sesoi))
    p_fail = stats.pitman_morgan(a, b, "greater", ratio=boundary).p
    return PartResult(test="Pitman-Morgan (paired spreads)", estimate=res.estimate, ci_low=res.ci_low,
                      ci_high=res.ci_high, p=res.p, p_fail=p_fail, verdict=_verdict(res.p, p_fail, level),
                      cross_check_p=stats.bootstrap_log_sd_ratio_p(a, b), **common)


def combine(parts: list[PartResult]) -> tuple[str, float]:
    """Intersection-union: pass iff all parts pass; fail if any fails; p = max part p."""
    verdicts = {p.verdict for p in parts}
    verdict = FAIL if FAIL in verdicts else PASS if verdicts == {PASS} else INCONCLUSIVE
    return verdict, max(p.p for p in parts)


def curves_of(runs: dict[str, list[RunRecord]]) -> dict[str, dict[str, list[list[float]]]]:
    """Per experiment, per history key, the per-seed curves (for figures)."""
    return {name: {k: [r.history[k] for r in records] for k in HISTORY_KEYS} for name, records in runs.items()}
