"""Calibration of the decisions: worlds resampled from real per-seed values of each part, moved
to the boundary of its hypotheses, pushed through the claim's design, counting false verdicts.

For each part two worlds, built from its pilot values (their skew, ties, tails and the
correlation of the arms kept; only the location or scale moved):
- the *zero* world: the effect exactly at the pass test's null (a difference's median at zero:
  no more seeds the book's way than the other; a spread's sd ratio 1; a band's median at its
  nearest edge). A *pass* there is a false pass: its rate must stay at the claim's level.
- the *SESOI* world: the effect exactly at the smallest effect of interest (half the seeds at
  or above it; a spread's ratio exp(-SESOI); a band's median at its edge). A *fail* there is a
  false fail: its rate must stay at the part's fail level (level / parts).
For the comparison with t tests (`part_tests.DIFFERENCE_TEST`), the mean is moved instead.
Worlds draw seeds with replacement from the moved values, so "the truth" is the empirical
distribution of the pilots: a test valid for every shape the metric takes holds there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from fml_bench import part_tests
from fml_bench.hypotheses import Kind, Part
from fml_bench.simulation import Values, simulate
from fml_bench.stats import SequentialDesign
from fml_bench.verdicts import fail_level

ZERO, AT_SESOI = "zero", "sesoi"


def _median_shift(oriented: np.ndarray, sesoi: float, world: str) -> float:
    """The shift that puts the sign tests' null exactly at its boundary, as close to a false
    verdict as the null allows: ZERO, the largest shift with no more values above zero than
    below; AT_SESOI, the smallest with at least half the values at or above the SESOI."""
    eps = 1e-9 * max(1.0, float(np.max(np.abs(oriented))))
    if world == ZERO:
        candidates = np.concatenate([-oriented - eps, -oriented, -oriented + eps])
        ok = [k for k in candidates if np.mean(oriented + k > 0) <= np.mean(oriented + k < 0)]
        return float(max(ok))
    candidates = sesoi - oriented
    ok = [k for k in candidates if np.mean(oriented + k >= sesoi - 1e-9) >= 0.5]
    return float(min(ok))


def boundary_world(part: Part, a: np.ndarray, b: np.ndarray | None, sesoi: float, world: str) -> Values:
    """`a` and `b` moved so that the part's effect sits at the boundary `world` (ZERO or AT_SESOI)
    of the hypotheses its test is about: the median for the sign tests, the mean for the t tests
    of the comparison, the sd ratio for spreads."""
    if part.kind is Kind.LESS_SPREAD:
        assert b is not None
        target = 1.0 if world == ZERO else float(np.exp(-sesoi))  # sd(a) / sd(b)
        scale = target * np.std(b) / max(np.std(a), 1e-300)
        return np.mean(a) + (a - np.mean(a)) * scale, b
    diff = a - b if b is not None else a
    by_median = part_tests.DIFFERENCE_TEST == part_tests.SIGN
    centre = float(np.median(diff) if by_median else np.mean(diff))
    if part.kind is Kind.WITHIN:  # both tests' boundary is the band's edge nearest the pilots
        side = 1.0 if centre >= part.null else -1.0
        return a + (part.null + side * part.half_width - centre), b
    sign = part.direction.sign
    oriented = sign * (diff - part.null)
    if by_median:
        k = _median_shift(oriented, sesoi, world)
    else:
        k = (0.0 if world == ZERO else sesoi) - float(np.mean(oriented))
    return a + sign * k, b


@dataclass(frozen=True)
class CalibrationRow:
    """One part (or a whole claim, part "all parts") in one world: the share of worlds with the
    false verdict, the rate it may not exceed (nominal) and the binomial 99% limit at `worlds`."""

    claim: str
    part: str
    world: str
    false_verdict: str
    rate: float
    nominal: float
    limit: float
    worlds: int

    @property
    def ok(self) -> bool:
        return self.rate <= self.limit


def binomial_limit(nominal: float, worlds: int, quantile: float = 0.99) -> float:
    """The rate a valid test stays under at `worlds` simulations with probability `quantile`."""
    return float(sps.binom.ppf(quantile, worlds, nominal) / worlds)


def calibrate_claim(claim_id: str, parts: tuple[Part, ...], pilot: list[Values], tier: str,
                    design: SequentialDesign, worlds: int, seed: int = 0) -> list[CalibrationRow]:
    """Every part's false pass at zero and false fail at its SESOI, each part on its own through
    the design's looks, and the claim's false fail with every part at its SESOI at once."""
    level = design.alpha
    rows: list[CalibrationRow] = []
    per_part_fail = fail_level(level, len(parts))
    at_sesoi = []
    for i, (part, (a, b)) in enumerate(zip(parts, pilot)):
        sesoi = part.sesoi_for(tier).value
        zero = boundary_world(part, a, b, sesoi, ZERO)
        edge = boundary_world(part, a, b, sesoi, AT_SESOI)
        at_sesoi.append(edge)
        alone = simulate((part,), (zero,), tier, design, worlds, np.random.default_rng(seed + 2 * i))
        rows.append(CalibrationRow(claim_id, part.id, ZERO, "pass", alone.part_pass[0], level,
                                   binomial_limit(level, worlds), worlds))
        fails = simulate((part,), (edge,), tier, design, worlds, np.random.default_rng(seed + 2 * i + 1),
                         fail_parts=len(parts)).part_fail[0]
        rows.append(CalibrationRow(claim_id, part.id, AT_SESOI, "fail", fails, per_part_fail,
                                   binomial_limit(per_part_fail, worlds), worlds))
    if len(parts) > 1:
        whole = simulate(parts, at_sesoi, tier, design, worlds, np.random.default_rng(seed + 999))
        rows.append(CalibrationRow(claim_id, "all parts", AT_SESOI, "fail", whole.p_fail, level,
                                   binomial_limit(level, worlds), worlds))
    return rows
