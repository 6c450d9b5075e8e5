"""Calibration through the whole decision: simulated worlds shaped like the real runs (skewed
noise, discrete epochs, correlated arms) pushed through `decide_part` and the
`sequential_verdict` at the real per-claim level (alpha / FAMILY_SIZE). A false pass (true
effect zero) and a false fail (true effect exactly at the SESOI) must each stay within the
binomial 99% upper limit of their nominal rate.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from fml_bench.claims import FAMILY_SIZE
from fml_bench.hypotheses import Sesoi, greater, less, less_spread
from fml_bench.metrics import Metric
from fml_bench.report.claim_results import FAIL, INCONCLUSIVE, PASS, ClaimResult
from fml_bench.stats import SequentialDesign
from fml_bench.suite import sequential_verdict
from fml_bench.verdicts import decide_part

SIMS = 2000
ALPHA = 0.05 / FAMILY_SIZE
VALUE = Metric("value", "val_loss", lambda r: 0.0)
EPOCH = Metric("epoch", "val_loss", lambda r: 0.0, discrete=True)


def upper_limit(rate: float, sims: int = SIMS) -> float:
    """The binomial 99% upper limit of the observed rate when the true rate is `rate`."""
    return sps.binom.ppf(0.99, sims, rate) / sims


def verdict_rate(part, draw, design: SequentialDesign, target: str, sims: int = SIMS, seed: int = 0) -> float:
    """Share of `sims` worlds whose sequential verdict is `target`; draw(rng, n) -> (a, b)."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(sims):
        a, b = draw(rng, design.last_look)

        def at(n: int, level: float, a=a, b=b) -> ClaimResult:
            res = decide_part(part, a[:n], None if b is None else b[:n], "fast", level, interval=False)
            return ClaimResult("sim", "", "", "", "fast", "sim", (res,), res.verdict, res.p, level, n)

        hits += sequential_verdict(design, at).verdict == target
    return hits / sims


def skewed_arms(effect: float):
    """Correlated arms with right-skewed noise (lognormal), mean difference `effect`."""
    def draw(rng, n):
        shared = rng.normal(0.3, 0.05, n)
        a = shared + rng.lognormal(-3, 0.8, n)
        b = shared + rng.lognormal(-3, 0.8, n)
        return a + effect, b
    return draw


def epoch_arms(shift: int):
    """Discrete epochs of the minimum, as imdb-16-16's (mostly 4), arm a `shift` epochs later."""
    values, probs = np.array([3, 4, 5, 6]), np.array([0.1, 0.75, 0.1, 0.05])

    def draw(rng, n):
        return rng.choice(values, n, p=probs).astype(float) + shift, rng.choice(values, n, p=probs).astype(float)
    return draw


@pytest.mark.parametrize("design", [SequentialDesign((5, 10), ALPHA), SequentialDesign((10, 20), ALPHA)],
                         ids=["5-10", "10-20"])
def test_no_false_pass_at_zero_effect_skewed_correlated(design):
    part = greater("x", "x", VALUE, "a", "b", sesoi={"fast": Sesoi(0.02, "test")})
    assert verdict_rate(part, skewed_arms(0.0), design, PASS) <= upper_limit(ALPHA)


@pytest.mark.parametrize("design", [SequentialDesign((5, 10), ALPHA), SequentialDesign((10, 20), ALPHA)],
                         ids=["5-10", "10-20"])
def test_no_false_fail_at_the_smallest_effect_of_interest(design):
    part = greater("x", "x", VALUE, "a", "b", sesoi={"fast": Sesoi(0.02, "test")})
    assert verdict_rate(part, skewed_arms(0.02), design, FAIL) <= upper_limit(ALPHA)


DISCRETE = SequentialDesign((10, 20), ALPHA)


def test_discrete_epochs_no_false_pass_under_exchangeable_arms():
    part = greater("x", "x", EPOCH, "a", "b", sesoi={"fast": Sesoi(1, "test")})
    assert verdict_rate(part, epoch_arms(0), DISCRETE, PASS) <= upper_limit(ALPHA)


def test_discrete_epochs_no_false_fail_at_the_sesoi_and_power_at_two_epochs():
    part = greater("x", "x", EPOCH, "a", "b", sesoi={"fast": Sesoi(1, "test")})
    assert verdict_rate(part, epoch_arms(1), DISCRETE, FAIL) <= upper_limit(ALPHA)
    assert verdict_rate(part, epoch_arms(2), DISCRETE, PASS, sims=500) >= 0.95  # the book's 6 vs 4 epochs
    # exchangeable epochs (a knock-out that is not an exact copy): only ~20% of seeds reach the
    # SESOI, and the sign test needs many seeds to show fewer than half do: P(fail) 0.36 at (10, 20),
    # 0.98 at (32, 64); the knock-out planner sizes such designs from the knock-out's pilots
    assert verdict_rate(part, epoch_arms(0), DISCRETE, FAIL, sims=500) < 0.6
    assert verdict_rate(part, epoch_arms(0), SequentialDesign((32, 64), ALPHA), FAIL, sims=500) >= 0.95


def test_a_mean_zero_world_whose_typical_seed_shows_the_effect_passes():
    """The issue's example: differences +1 (p 0.9) or -9 (p 0.1), mean zero. The parts are about
    the typical seed (sign tests, issue 20): nine seeds in ten overfit later, so *pass* is the
    right verdict here, not a false one; a test of the mean cannot be valid for every shape at
    this n (docs/statistics.md)."""
    part = greater("x", "x", EPOCH, "a", sesoi={"fast": Sesoi(1, "test")})

    def draw(rng, n):
        return np.where(rng.random(n) < 0.9, 1.0, -9.0), None

    assert verdict_rate(part, draw, DISCRETE, PASS, sims=1000) > 0.8  # measured 0.87 at (10, 20)


def test_pitman_morgan_keeps_alpha_with_correlated_arms_of_equal_spread():
    part = less_spread("x", "x", VALUE, "a", "b", sesoi={"fast": Sesoi(0.35, "test")})
    design = SequentialDesign((8, 16), ALPHA)

    def draw(rng, n):
        shared = rng.normal(0, 1, n)
        return 0.8 * shared + 0.6 * rng.normal(0, 1, n), 0.8 * shared + 0.6 * rng.normal(0, 1, n)

    assert verdict_rate(part, draw, design, PASS) <= upper_limit(ALPHA)


def test_identical_arms_fail_and_no_interval_is_ever_zero_width():
    part = less("x", "x", VALUE, "a", "b", sesoi={"fast": Sesoi(0.05, "test")})
    same = np.array([0.3, 0.31, 0.29, 0.33, 0.3])
    res = decide_part(part, same, same.copy(), "fast", ALPHA, same_runs=True)
    assert res.verdict == FAIL and res.test == "identical arms" and np.isnan(res.ci_low)
    constant = decide_part(part, same - 0.1, same, "fast", ALPHA)  # every seed exactly -0.1
    assert np.isnan(constant.ci_low) and constant.p == pytest.approx(2**-5)
    assert constant.verdict == INCONCLUSIVE  # 2^-5 is above the level: the sign test cannot decide at 5
    spread = decide_part(part, same - 0.1 + np.array([0, 1e-3, -1e-3, 2e-3, 0]), same, "fast", ALPHA)
    assert spread.ci_high > spread.ci_low


def test_equal_values_of_different_runs_go_through_the_test():
    """Two models whose epoch of minimum agrees on every seed are not the same runs: the old rule
    failed them with p_fail 0 (P(fail) 0.8^n in a world at the SESOI with 80% zero differences)."""
    part = greater("later-minimum", "x", EPOCH, "a", "b", sesoi={"fast": Sesoi(1, "test")})
    fours = np.full(5, 4.0)
    res = decide_part(part, fours, fours.copy(), "fast", ALPHA)
    assert res.test != "identical arms" and res.verdict == INCONCLUSIVE and res.p_fail >= 2**-5


def test_the_same_spec_with_rounding_differences_goes_through_the_test():
    """CI: a knock-out turned mnist-96-96 into mnist-logreg, trained in a stack of another size
    than the stored mnist-logreg runs; their values differed in the sixth digit."""
    part = less("x", "x", VALUE, "a", "b", sesoi={"fast": Sesoi(0.05, "test")})
    b = np.linspace(0.28, 0.33, 12)
    res = decide_part(part, b + np.tile([1e-7, -2e-7, 0.0], 4), b, "fast", ALPHA, same_runs=True)
    assert res.test != "identical arms" and res.verdict == FAIL


def test_a_claim_of_many_parts_at_their_sesoi_fails_falsely_at_most_at_the_level():
    """Issue 20: a claim fails when any part fails, so with k parts each failing at the level its
    false-fail rate was up to k times the level (imdb-larger 0.010, common-sense-baseline 0.0083
    against 0.0033). Each part's fail test now runs at level / k."""
    from fml_bench.verdicts import combine, fail_level

    k, n, sesoi = 5, 16, 0.05
    parts = [greater(f"p{i}", "x", VALUE, "a", None, sesoi={"fast": Sesoi(sesoi, "test")}) for i in range(k)]
    rng = np.random.default_rng(3)
    sims, fails, uncorrected = 4000, 0, 0
    for _ in range(sims):
        values = [sesoi + rng.normal(0, 0.02, n) for _ in parts]  # every part exactly at its SESOI
        at = [decide_part(p, v, None, "fast", ALPHA, interval=False, fail_at=fail_level(ALPHA, k))
              for p, v in zip(parts, values)]
        fails += combine(at)[0] == FAIL
        plain = [decide_part(p, v, None, "fast", ALPHA, interval=False) for p, v in zip(parts, values)]
        uncorrected += combine(plain)[0] == FAIL
    assert fails / sims <= upper_limit(ALPHA, sims)
    assert uncorrected / sims > upper_limit(ALPHA, sims)  # the old rule: about k x the level


def test_claims_test_each_parts_fail_at_the_level_over_their_parts():
    from fml_bench.claims import get_claim
    from tests.synthetic import records

    claim = get_claim("imdb-larger")
    runs = {name: records(name, 5) for name in claim.experiments()}
    parts, _, _ = claim.decide("fast", runs, ALPHA)
    assert [p.fail_level for p in parts] == pytest.approx([ALPHA / len(claim.parts)] * len(claim.parts))


# The calibration on the real shapes (benchmarks/calibration.py has the whole table at 40,000
# worlds): a subset in CI, on the pilot values committed beside the plans.
REAL_SHAPES = ["imdb-larger", "more-data", "underfit-logreg", "early-stopping"]


def _calibration_rows(claim_id: str, test: str, worlds: int = 6000):
    from fml_bench import part_tests
    from fml_bench.calibration import calibrate_claim
    from fml_bench.claims import get_claim
    from fml_bench.pilot_values import load_values
    from fml_bench.plans import plan_for

    claim = get_claim(claim_id)
    stored = load_values("plans", "fast", claim)
    assert stored is not None, f"{claim_id}: no pilot values in fml_bench/pilot_values.json"
    plan = plan_for(claim_id, "fast")
    previous, part_tests.DIFFERENCE_TEST = part_tests.DIFFERENCE_TEST, test
    try:
        return calibrate_claim(claim_id, claim.parts, stored[0], "fast", SequentialDesign(plan.looks, ALPHA), worlds)
    finally:
        part_tests.DIFFERENCE_TEST = previous


@pytest.mark.parametrize("claim_id", REAL_SHAPES)
def test_the_decisions_hold_their_level_on_the_real_shapes(claim_id):
    """False pass at zero and false fail at the SESOI, each part and the claim at once, under the
    binomial 99% limit, in worlds resampled from the pilots' per-seed values."""
    rows = _calibration_rows(claim_id, "sign")
    over = [f"{r.part} {r.world}: {r.rate:.4f} > {r.limit:.4f}" for r in rows if not r.ok]
    assert not over, over


def test_students_t_does_not_hold_its_level_on_the_same_shapes():
    """The check can fail: Student's t, in the same worlds moved to its own (mean) boundary, fires
    too often where the per-seed differences are skewed (imdb-larger's jaggedness at its SESOI:
    0.036 against 0.0012 at 40,000 worlds)."""
    rows = _calibration_rows("imdb-larger", "student")
    assert any(not r.ok for r in rows), [(r.part, r.world, r.rate) for r in rows]
