"""What changed between two builds: pure functions over the per-seed values of two results
documents (effects) and over alternating timing rounds (speed).

Effects. The same seed gives the same data, split and initial weights in both builds, so each
part's per-seed effect is compared seed by seed. A part's effect is on its claim's oriented
scale (positive in the book's direction): the mean of sign * (a - b - null) for a difference,
the mean deviation from the centre for a band, log(sd(b) / sd(a)) for a spread. Its change
delta = effect(B) - effect(A) gets an interval at confidence 1 - alpha / (parts compared)
(Bonferroni, so that an A/A run flags a part with probability at most alpha in all): a paired t
interval over seeds for means, a paired bootstrap over seeds for spreads. The tolerance is half
the part's smallest effect of interest (a band: half its half-width): a change that size cannot
by itself turn a clear pass into a fail, and anything larger is worth a maintainer's look.

- *unchanged*: the interval lies inside [-tolerance, +tolerance];
- *changed*: it lies wholly outside, toward the book (the effect grew) or away from it;
- *undecided*: otherwise (more seeds would tell).

Where the t interval does not hold: per-seed build differences that are strongly skewed. With
lognormal(0, 0.8) noise (skewness about 3.7) and 8 seeds, a change exactly at the tolerance is
called *changed* in 7% of worlds against the nominal 0.5% (a bootstrap-t interval: 3%;
measured in this module's tests' setting); normal and t(3) noise stay within the nominal rate
(tests/test_ab_stats.py). Across two real builds most per-seed differences are exactly zero or
small and symmetric (the A/B of TF 2.16.2/Keras 3.3.3 against TF 2.21/Keras 3.15.1: 25 of 30
parts unchanged, none changed); a skewed part is one to rerun on more seeds before acting.

Speed. Each round times every experiment once in each build, in alternating order, in fresh
child processes; a round's log ratio log(t_B / t_A) cancels what drifts between rounds (other
load, thermal state). The ratio is exp(mean log ratio), its interval a t interval over rounds at
confidence 1 - alpha / (experiments timed); *slower* when the lower bound exceeds `threshold`,
*faster* when the upper bound is below 1 / threshold. `slowdown_power` is the chance of flagging
a given true slow-down at the measured round-to-round noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from fml_bench.hypotheses import Kind, Part

UNCHANGED, CHANGED, UNDECIDED = "unchanged", "changed", "undecided"
TOWARD, AWAY = "toward the book", "away from the book"
SLOWER, FASTER, SAME_SPEED = "slower", "faster", "unchanged"
DEFAULT_ALPHA = 0.05
SLOWER_THRESHOLD = 1.05
BOOTSTRAP_RESAMPLES = 20000


@dataclass(frozen=True)
class PartChange:
    """One part's effect in builds A and B over their common seeds, and its change."""

    claim_id: str
    part_id: str
    says: str
    scale: str
    seeds: int
    effect_a: float
    effect_b: float
    delta: float
    ci_low: float
    ci_high: float
    confidence: float
    tolerance: float
    verdict: str
    direction: str = ""

    @property
    def alarm(self) -> bool:
        return self.verdict == CHANGED and self.direction == AWAY


@dataclass(frozen=True)
class VerdictFlip:
    claim_id: str
    verdict_a: str
    verdict_b: str

    @property
    def alarm(self) -> bool:
        return self.verdict_b == "fail" and self.verdict_a != "fail"


@dataclass(frozen=True)
class SpeedChange:
    """One experiment's seconds per epoch in A and B (medians over rounds) and their ratio."""

    experiment: str
    rounds: int
    seconds_a: float
    seconds_b: float
    ratio: float
    ratio_low: float
    ratio_high: float
    confidence: float
    threshold: float
    verdict: str
    log_ratio_sd: float
    power_at_1_2x: float

    @property
    def alarm(self) -> bool:
        return self.verdict == SLOWER


def scale_of(part: Part) -> str:
    if part.kind is Kind.LESS_SPREAD:
        return "log sd ratio (book's direction positive)"
    if part.kind is Kind.WITHIN:
        return "mean deviation from the band's centre"
    return "mean effect (book's direction positive)"


def tolerance_of(part: Part, tier: str) -> float:
    """Half the part's smallest effect of interest (a band: half its half-width)."""
    return (part.half_width if part.kind is Kind.WITHIN else part.sesoi_for(tier).value) / 2


def per_seed_effect(part: Part, a: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """Per seed, the part's effect on its oriented scale (not for spreads)."""
    diff = (a - b if b is not None else a) - part.null
    return diff if part.kind is Kind.WITHIN else part.direction.sign * diff


def _log_sd_ratio(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.log(np.std(b, axis=axis, ddof=1) / np.maximum(np.std(a, axis=axis, ddof=1), 1e-300))


def compare_part(part: Part, claim_id: str, tier: str, values_a: tuple[np.ndarray, np.ndarray | None],
                 values_b: tuple[np.ndarray, np.ndarray | None], confidence: float,
                 rng: np.random.Generator | None = None) -> PartChange:
    """The part's change from build A to B; values_*: (arm a, arm b) per common seed, same order."""
    (a1, b1), (a2, b2) = values_a, values_b
    n = len(a1)
    tol = tolerance_of(part, tier)
    if part.kind is Kind.LESS_SPREAD:
        assert b1 is not None and b2 is not None
        ea, eb = float(_log_sd_ratio(a1, b1)), float(_log_sd_ratio(a2, b2))
        idx = (rng or np.random.default_rng(0)).integers(0, n, (BOOTSTRAP_RESAMPLES, n))
        boot = _log_sd_ratio(a2[idx], b2[idx]) - _log_sd_ratio(a1[idx], b1[idx])
        tail = (1 - confidence) / 2
        low, high = (float(q) for q in np.quantile(boot, [tail, 1 - tail]))
    else:
        xa, xb = per_seed_effect(part, a1, b1), per_seed_effect(part, a2, b2)
        ea, eb = float(np.mean(xa)), float(np.mean(xb))
        d = xb - xa
        if np.ptp(d) == 0:  # the same value on every seed (A/A on a deterministic build: zero)
            low = high = float(d[0])
        else:
            low, high = (float(v) for v in sps.t.interval(confidence, n - 1, loc=np.mean(d), scale=sps.sem(d)))
    delta = eb - ea
    if -tol <= low and high <= tol:
        verdict, direction = UNCHANGED, ""
    elif low > tol or high < -tol:
        verdict = CHANGED
        grew = abs(eb) < abs(ea) if part.kind is Kind.WITHIN else delta > 0
        direction = TOWARD if grew else AWAY
    else:
        verdict, direction = UNDECIDED, ""
    return PartChange(claim_id=claim_id, part_id=part.id, says=part.says, scale=scale_of(part), seeds=n,
                      effect_a=ea, effect_b=eb, delta=delta, ci_low=low, ci_high=high, confidence=confidence,
                      tolerance=tol, verdict=verdict, direction=direction)


def speed_change(experiment: str, rounds: Sequence[tuple[float, float]], confidence: float,
                 threshold: float = SLOWER_THRESHOLD) -> SpeedChange:
    """rounds: (seconds per epoch in A, in B) per alternating round."""
    t = np.asarray(rounds, float)
    logs = np.log(t[:, 1] / t[:, 0])
    r = len(logs)
    mean = float(np.mean(logs))
    sd = float(np.std(logs, ddof=1)) if r > 1 else float("nan")
    if r > 1 and sd > 0:
        q = float(sps.t.ppf(1 - (1 - confidence) / 2, r - 1))
        low, high = mean - q * sd / np.sqrt(r), mean + q * sd / np.sqrt(r)
    else:
        low = high = mean if r > 1 else float("nan")
    verdict = SLOWER if np.exp(low) > threshold else FASTER if np.exp(high) < 1 / threshold else SAME_SPEED
    return SpeedChange(experiment=experiment, rounds=r, seconds_a=float(np.median(t[:, 0])),
                       seconds_b=float(np.median(t[:, 1])), ratio=float(np.exp(mean)), ratio_low=float(np.exp(low)),
                       ratio_high=float(np.exp(high)), confidence=confidence, threshold=threshold, verdict=verdict,
                       log_ratio_sd=sd, power_at_1_2x=slowdown_power(sd, r, confidence, threshold, 1.2))


def slowdown_power(log_ratio_sd: float, rounds: int, confidence: float, threshold: float = SLOWER_THRESHOLD,
                   true_ratio: float = 1.2) -> float:
    """P(the lower bound exceeds `threshold`) when the true ratio is `true_ratio`, at round-to-round
    noise `log_ratio_sd` (noncentral t)."""
    if rounds < 2 or not np.isfinite(log_ratio_sd):
        return float("nan")
    if log_ratio_sd == 0:
        return 1.0
    q = sps.t.ppf(1 - (1 - confidence) / 2, rounds - 1)
    ncp = (np.log(true_ratio) - np.log(threshold)) / (log_ratio_sd / np.sqrt(rounds))
    return float(sps.nct.sf(q, rounds - 1, ncp))


def rounds_for_power(log_ratio_sd: float, confidence: float, target: float = 0.9, threshold: float = SLOWER_THRESHOLD,
                     true_ratio: float = 1.2, most: int = 200) -> int | None:
    """The fewest rounds that flag `true_ratio` with probability `target` at this noise."""
    for r in range(2, most + 1):
        if slowdown_power(log_ratio_sd, r, confidence, threshold, true_ratio) >= target:
            return r
    return None
