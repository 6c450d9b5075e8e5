"""The tests behind every verdict (`part_tests.py`): exact where they claim to be, vectorised
without changing a single verdict, and valid where the t tests they replaced were not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from fml_bench import part_tests
from fml_bench.claims import FAMILY_SIZE, get_claim
from fml_bench.hypotheses import Sesoi, greater, less, less_spread, within
from fml_bench.metrics import Metric
from fml_bench.report.claim_results import FAIL, INCONCLUSIVE, PASS
from fml_bench.simulation import FAIL_CODE, PASS_CODE, UNDECIDED, part_codes
from fml_bench.stats import pitman_morgan_statistic
from fml_bench.verdicts import decide_part

ALPHA = 0.05 / FAMILY_SIZE
VALUE = Metric("value", "val_loss", lambda r: 0.0)
EPOCH = Metric("epoch", "val_loss", lambda r: 0.0, discrete=True)


def test_the_sign_tests_are_exact_binomial_tails():
    d = np.array([0.3, 0.1, 0.2, 0.0, -0.1, 0.4, 0.2, 0.5, 0.3, 0.1])  # 8 above, 1 below, 1 tie
    assert part_tests.sign_test_pass_p(d) == pytest.approx(sps.binom.sf(7, 9, 0.5))
    assert part_tests.sign_test_fail_p(d, 0.25) == pytest.approx(sps.binom.cdf(4, 10, 0.5))  # 4 reach 0.25
    assert part_tests.sign_test_pass_p(np.zeros(6)) == 1.0  # every seed tied: nothing to count
    assert part_tests.sign_test_pass_p(np.ones(10)) == pytest.approx(2.0**-10) == part_tests.sign_test_floor(10)


def test_a_band_passes_when_most_seeds_lie_inside_and_fails_when_most_lie_beyond_an_edge():
    inside = np.full(12, 0.1) + np.linspace(-0.01, 0.01, 12)
    p_pass, p_fail = part_tests.band_p(inside, 0.07, 0.13)
    assert p_pass == pytest.approx(2.0**-12) and p_fail == 1.0
    beyond = inside + 0.1
    p_pass, p_fail = part_tests.band_p(beyond, 0.07, 0.13)
    assert p_pass == 1.0 and p_fail == pytest.approx(2 * 2.0**-12)


PARTS = [
    greater("g", "g", VALUE, "a", "b", sesoi={"fast": Sesoi(0.05, "t")}),
    less("l", "l", EPOCH, "a", "b", sesoi={"fast": Sesoi(1, "t")}),
    within("w", "w", VALUE, "a", center=0.1, half_width=0.03, source="t"),
    less_spread("s", "s", VALUE, "a", "b", sesoi={"fast": Sesoi(0.3, "t")}),
]


@pytest.mark.parametrize("part", PARTS, ids=[p.id for p in PARTS])
def test_simulated_verdicts_are_the_decisions_verdicts_world_by_world(part):
    """The planner and the calibration decide through `simulation.part_codes`; the suite through
    `decide_part`: both must give the same verdict on the same values."""
    rng = np.random.default_rng(7)
    n, worlds = 12, 300
    if part.discrete:
        a, b = rng.integers(2, 7, (worlds, n)).astype(float), rng.integers(3, 7, (worlds, n)).astype(float)
    else:
        a = rng.normal(0.1, 0.03, (worlds, n)) * rng.uniform(0.3, 1.5, (worlds, 1))
        b = rng.normal(0.05, 0.03, (worlds, n)) + rng.uniform(-0.05, 0.05, (worlds, 1))
    b_arg = None if part.b is None else b
    codes = part_codes(part, a, b_arg, part.sesoi_for("fast").value, ALPHA, ALPHA / 2)
    to_code = {PASS: PASS_CODE, FAIL: FAIL_CODE, INCONCLUSIVE: UNDECIDED}
    expected = [to_code[decide_part(part, a[i], None if b_arg is None else b[i], "fast", ALPHA, interval=False,
                                    fail_at=ALPHA / 2).verdict] for i in range(worlds)]
    assert codes.tolist() == expected
    assert len(set(expected)) >= 2  # the worlds exercise more than one verdict


def test_heavy_tailed_equal_spreads_do_not_pass_the_spread_test():
    """Pitman-Morgan alone assumes normal arms; with t3 tails and equal spreads at 128 seeds its
    false pass rate is several times the level; the max with its robust form keeps it."""
    rng = np.random.default_rng(11)
    worlds, n, level = 40000, 128, 0.01
    shared = rng.standard_t(3, (worlds, n))
    a = shared + rng.standard_t(3, (worlds, n))
    b = shared + rng.standard_t(3, (worlds, n))
    classic = sps.t.cdf(pitman_morgan_statistic(a, b, 1.0), n - 2)
    combined = part_tests.spread_p(a, b, 1.0, "less")
    limit = sps.binom.ppf(0.99, worlds, level) / worlds
    assert np.mean(classic < level) > 2 * limit  # the classic test alone is not valid here
    assert np.mean(combined < level) <= limit


def test_the_median_interval_covers_at_its_confidence():
    from fml_bench.stats import median_interval

    rng = np.random.default_rng(3)
    hits = [lo <= 0.0 <= hi for lo, hi in (median_interval(x, 0.9) for x in rng.exponential(1, (2000, 15)) - np.log(2))]
    assert np.mean(hits) >= 0.9 - 3 * np.sqrt(0.09 / 2000)


def test_a_claims_parts_state_their_sign_tests():
    claim = get_claim("imdb-smaller")
    res = decide_part(claim.parts[0], np.array([6.0] * 10), np.array([4.0] * 10), "fast", ALPHA)
    assert res.test == "paired sign test (greater)" and res.verdict == PASS and res.p == pytest.approx(2.0**-10)
    assert res.estimate == 2.0 and np.isnan(res.ci_low)  # no spread: no interval, never a zero-width one
