"""Verdicts: a part's test on per-seed values, and a claim's verdict from its parts (the
decision only; the result records it fills and their prose are in `report/claim_results.py`).

Each part has an oriented effect (positive in the book's direction) and a smallest effect of
interest (SESOI) for the tier. Two one-sided tests at the same level decide:

- *fail* when the effect is shown to lie below the SESOI (the phenomenon is gone, or much
  smaller than the book says); this takes precedence, so a real but negligible effect fails;
- *pass* when the effect is shown to lie above the null boundary (zero);
- *inconclusive* otherwise.

The tests (`part_tests.py` says which and why): differences and bands, continuous or epochs,
exact sign tests about the typical seed; spreads of paired arms Pitman-Morgan with its robust
form. Stated rules for degenerate samples:
identical arms (both arms are the same computation: the same spec hash, seed and engine for
every seed, as when a knock-out turns one arm into the other, and the same values) have an
effect known exactly, fail if it is short of the SESOI; arms of different runs whose values
merely coincide, and the same spec whose values differ by rounding (trained in stacks of another
size), go through the test like any others; a sample without spread gets the exact sign test and no interval. A
claim passes when all its parts pass and fails when any part fails (intersection-union: its p
is the largest of its parts'). Passing needs every part, so each pass test runs at the claim's
level; failing needs only one, so each of a claim's k parts tests *fail* at level / k
(Bonferroni over the parts, `fail_level`): a claim whose parts all sit at their SESOI fails
falsely at most at the level, however many parts it has (issue 20).
"""

from __future__ import annotations

import numpy as np

from fml_bench import part_tests, stats
from fml_bench.hypotheses import Kind, Part
from fml_bench.records import RunRecord
from fml_bench.report.claim_results import FAIL, IDENTICAL_ARMS, INCONCLUSIVE, PASS, PartResult


def _verdict(p_pass: float, p_fail: float, level: float, fail_level: float) -> str:
    if p_fail < fail_level:
        return FAIL
    return PASS if p_pass < level else INCONCLUSIVE


def interval_confidence(level: float) -> float:
    """The confidence of a part's two-sided interval: each tail at the pass test's level, so the
    interval shows what the decision saw (a difference passes when its median's oriented
    interval lies above zero, ties aside: the sign test and the order-statistic interval invert
    one another), not a 95% interval beside a decision at 0.001 (issue 20)."""
    return 1 - 2 * level


def fail_level(level: float, parts: int) -> float:
    """The level of each part's fail test in a claim of `parts` parts (see the module doc)."""
    return level / max(1, parts)


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


def p_values(part: Part, a: np.ndarray, b: np.ndarray | None, sesoi: float) -> tuple[np.ndarray, np.ndarray]:
    """(p_pass, p_fail) of `part` per row of `a` (and `b`), seeds on the last axis: the one
    computation behind every verdict, real or simulated."""
    if part.kind is Kind.LESS_SPREAD:
        assert b is not None
        return part_tests.spread_p(a, b, 1.0, "less"), part_tests.spread_p(a, b, float(np.exp(-sesoi)), "greater")
    diff = a - b if b is not None else a
    if part.kind is Kind.WITHIN:
        return part_tests.within_p(diff, part.null - part.half_width, part.null + part.half_width)
    return part_tests.difference_p(part.direction.sign * (diff - part.null), sesoi)


def identical_arms_verdict(part: Part, sesoi: float) -> str:
    """The verdict when both arms are the same runs: the effect is known without error."""
    if part.kind is Kind.DIFFERENCE:
        effect = -part.direction.sign * part.null
    elif part.kind is Kind.LESS_SPREAD:
        effect = 0.0
    else:
        effect = part.half_width - abs(part.null)
    return FAIL if effect < sesoi else INCONCLUSIVE


def decide_part(part: Part, a: np.ndarray, b: np.ndarray | None, tier: str, level: float,
                interval: bool = True, same_runs: bool = False, fail_at: float | None = None) -> PartResult:
    """Test one part on per-seed values `a` (and `b`, paired): pass at `level`, fail at `fail_at`
    (default `level`; a claim passes `fail_level(level, its parts)`). `interval` False skips the
    intervals (the median's, the spread ratio's) and the spread's bootstrap cross-check, which
    decide nothing: simulations deciding thousands of worlds one at a time.
    `same_runs`: the two arms are the same computation (see `same_runs`); when their values are
    also equal on every seed the effect is known exactly. The same spec trained in stacks of
    another size can differ by rounding: then the values go through the test like any others."""
    sesoi = part.sesoi_for(tier)
    common = dict(part_id=part.id, says=part.says, metric=part.metric.name, metric_key=part.metric.key,
                  a=part.a, b=part.b, values_a=a.tolist(), values_b=None if b is None else b.tolist(),
                  sesoi=sesoi.value, sesoi_source=sesoi.source, fail_level=level if fail_at is None else fail_at,
                  confidence=interval_confidence(level))
    if same_runs and b is not None and np.array_equal(a, b):
        return _identical_arms(part, sesoi.value, common)
    p_pass, p_fail = (float(p[0]) for p in p_values(part, a[None], None if b is None else b[None], sesoi.value))
    verdict = _verdict(p_pass, p_fail, level, common["fail_level"])
    if part.kind is Kind.LESS_SPREAD:
        return _spread(a, b, p_pass, p_fail, verdict, common, interval)
    diff = a - b if b is not None else a
    low, high = stats.median_interval(diff, common["confidence"]) if interval else (float("nan"), float("nan"))
    if part.kind is Kind.WITHIN:
        return PartResult(test="band sign tests (median inside the band)", estimate=float(np.median(diff)),
                          ci_low=low, ci_high=high, p=p_pass, p_fail=p_fail, verdict=verdict,
                          cross_check_p=float(part_tests.tost_p(diff[None], part.null - part.half_width,
                                                                part.null + part.half_width)[0][0]), **common)
    return _difference(part, a, b, diff, (low, high), p_pass, p_fail, verdict, common)


def _identical_arms(part: Part, sesoi: float, common: dict) -> PartResult:
    """The arms are the same runs (or exact copies): the effect is known without error."""
    verdict = identical_arms_verdict(part, sesoi)
    return PartResult(test=IDENTICAL_ARMS, estimate=0.0, ci_low=float("nan"), ci_high=float("nan"),
                      p=1.0, p_fail=0.0 if verdict == FAIL else 1.0, verdict=verdict, **common)


def _difference(part: Part, a, b, diff, interval: tuple[float, float], p_pass: float, p_fail: float, verdict: str,
                common: dict) -> PartResult:
    """The sign tests decide about the median seed: shown with the median and its
    distribution-free interval; Student's t p of the mean is the cross-check."""
    sign = part.direction.sign
    oriented = sign * (diff - part.null)
    kind = "paired" if b is not None else "one-sample"
    return PartResult(
        test=f"{kind} sign test ({part.direction.name.lower()})", estimate=float(np.median(diff)),
        ci_low=interval[0], ci_high=interval[1], p=p_pass, p_fail=p_fail, verdict=verdict,
        effect_size=stats.cohens_d_paired(oriented, np.zeros_like(oriented)) if np.ptp(oriented) > 0 else float("nan"),
        prob_improvement=stats.prob_improvement(sign * a, sign * b) if b is not None else float("nan"),
        cross_check_p=float(part_tests.t_p(oriented[None], 0.0, "greater")[0]), **common,
    )


def _spread(a, b, p_pass: float, p_fail: float, verdict: str, common: dict, interval: bool = True) -> PartResult:
    """Pass when sd(a) < sd(b); fail when sd(a)/sd(b) is shown above exp(-sesoi) (the spread
    shrinks by less than the smallest effect of interest)."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:  # stated rule: an arm without spread cannot be compared
        return PartResult(test="Pitman-Morgan (an arm has no spread)", estimate=float("nan"), ci_low=float("nan"),
                          ci_high=float("nan"), p=1.0, p_fail=1.0, verdict=INCONCLUSIVE, **common)
    test = "Pitman-Morgan, classic and robust (paired spreads)"
    if not interval:
        return PartResult(test=test, estimate=float(np.std(a, ddof=1) / np.std(b, ddof=1)), ci_low=float("nan"),
                          ci_high=float("nan"), p=p_pass, p_fail=p_fail, verdict=verdict, **common)
    shown = stats.pitman_morgan(a, b, "less", confidence=common["confidence"])
    return PartResult(test=test, estimate=shown.estimate, ci_low=shown.ci_low, ci_high=shown.ci_high, p=p_pass,
                      p_fail=p_fail, verdict=verdict, cross_check_p=stats.bootstrap_log_sd_ratio_p(a, b), **common)


def combine(parts: list[PartResult]) -> tuple[str, float]:
    """Intersection-union: pass iff all parts pass; fail if any fails; p = max part p."""
    verdicts = {p.verdict for p in parts}
    verdict = FAIL if FAIL in verdicts else PASS if verdicts == {PASS} else INCONCLUSIVE
    return verdict, max(p.p for p in parts)
