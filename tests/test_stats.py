"""Calibration of the statistics on synthetic data with known truth: under a null the pass
rate stays within alpha (allowing binomial error); at the planned seeds and the book's effect
sizes the power is at least 0.95."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from fml_bench import stats

SIMS = 2000


def binomial_upper(alpha: float, sims: int = SIMS) -> float:
    """Largest rejection rate compatible with a true rate of alpha (one-sided 99.9%)."""
    return sps.binom.ppf(0.999, sims, alpha) / sims


@pytest.mark.parametrize("n", [5, 10])
def test_paired_t_keeps_alpha_under_the_null(n):
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, (SIMS, n)), rng.normal(0, 1, (SIMS, n))
    rejections = np.mean([stats.paired_t(x, y).p < 0.05 for x, y in zip(a, b)])
    assert rejections <= binomial_upper(0.05)


def test_one_sample_t_keeps_alpha_at_the_boundary():
    rng = np.random.default_rng(2)
    rejections = np.mean([stats.one_sample_t(x, 0.5, "less").p < 0.05 for x in rng.normal(0.5, 0.1, (SIMS, 5))])
    assert rejections <= binomial_upper(0.05)


def test_tost_keeps_alpha_at_the_margin():
    rng = np.random.default_rng(3)
    # true mean exactly on the edge of the band: equivalence is false
    rejections = np.mean([stats.tost_one_sample(x, 0.1, 0.03).p < 0.05 for x in rng.normal(0.13, 0.02, (SIMS, 10))])
    assert rejections <= binomial_upper(0.05)


@pytest.mark.parametrize("looks", [(5, 10), (5, 10, 20), (4, 8, 16, 32)])
def test_a_sequential_design_keeps_alpha(looks):
    design = stats.SequentialDesign(looks, alpha=0.05)
    rng = np.random.default_rng(5)
    false_passes = 0
    for _ in range(SIMS):
        d = rng.normal(0, 1, looks[-1])
        false_passes += any(stats.one_sample_t(d[:n]).p < design.level(n) for n in looks)
    assert false_passes / SIMS <= binomial_upper(0.05)
    assert sum(design.level(n) for n in looks) == pytest.approx(0.05)


def test_a_sequential_designs_levels():
    assert stats.SequentialDesign((5,), alpha=0.05).level(5) == 0.05  # one look, whole alpha
    two = stats.SequentialDesign((10, 20), alpha=0.05)  # the two-stage split (0.3, 0.7)
    assert (two.level(10), two.level(20)) == pytest.approx((0.015, 0.035))
    three = stats.SequentialDesign((10, 20, 40), alpha=0.05)  # the rest by seeds added: 10 and 20 of 30
    assert [three.level(n) for n in (10, 20, 40)] == pytest.approx([0.015, 0.035 / 3, 0.035 * 2 / 3])
    assert stats.SequentialDesign.of((10, 10), 0.05).looks == (10,)
    with pytest.raises(ValueError):
        stats.SequentialDesign((20, 10), 0.05)
    with pytest.raises(ValueError):
        three.level(30)


def test_power_formula_matches_simulation():
    rng = np.random.default_rng(6)
    d, n, alpha = 1.5, 8, 0.01
    simulated = np.mean([stats.one_sample_t(x).p < alpha for x in rng.normal(d, 1, (SIMS, n))])
    assert stats.power_paired_t(d, n, alpha) == pytest.approx(simulated, abs=0.03)


def test_power_is_sized_by_seeds_for_power():
    n = stats.seeds_for_power(2.0, alpha=0.01, power=0.95)
    assert stats.power_paired_t(2.0, n, 0.01) >= 0.95 > stats.power_paired_t(2.0, n - 1, 0.01)


def test_design_md_power_figures():
    # DESIGN.md: paired, 5 seeds, d=2, one-sided alpha 0.01: 0.73; 8 seeds: 0.98
    assert stats.power_paired_t(2.0, 5, 0.01) == pytest.approx(0.73, abs=0.02)
    assert stats.power_paired_t(2.0, 8, 0.01) == pytest.approx(0.98, abs=0.02)


def test_holm_matches_the_textbook_example():
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])


def test_effect_sizes_and_descriptions():
    a, b = np.array([3.0, 4, 5, 6]), np.array([1.0, 2, 3, 4])
    assert stats.prob_improvement(a, b) == pytest.approx(14 / 16)
    assert stats.prob_improvement(a, a) == 0.5
    assert stats.iqm([1, 2, 3, 4, 100, -100, 2.5, 3.5]) == pytest.approx(np.mean([2, 2.5, 3, 3.5]))
    assert np.isinf(stats.cohens_d_paired(a, b))


def test_degenerate_samples_use_the_sign_test():
    res = stats.one_sample_t(np.zeros(5), 0.01, "less")
    assert res.p == pytest.approx(0.5**5)
    assert stats.one_sample_t(np.zeros(5), -0.01, "less").p == 1.0


def test_rank_tests_floor_at_two_to_the_minus_n():
    a, b = np.arange(5.0) + 10, np.arange(5.0)
    assert stats.wilcoxon_p(a, b) == pytest.approx(2**-5)
    assert stats.permutation_paired_p(a, b) == pytest.approx(2**-5)
    assert stats.mann_whitney_p(a, b) < 0.01
    assert stats.welch_t(a, b).p < 1e-4


def test_every_claim_has_a_seed_plan_and_pilots_never_confirm():
    from fml_bench.claims import CLAIMS, FAMILY_SIZE
    from fml_bench.plans import CONFIRMATORY_FIRST_SEED, PILOT_FIRST_SEED, plan_for
    from fml_bench.tiers import TIERS

    assert FAMILY_SIZE == len(CLAIMS)  # a new claim changes every level: update FAMILY_SIZE on purpose
    largest = 0
    for tier in TIERS:
        for claim in CLAIMS:
            plan = plan_for(claim.id, tier)
            assert 5 <= plan.looks[0] and plan.source, (claim.id, tier, plan)
            largest = max(largest, plan.first_seed + plan.looks[-1])
    assert CONFIRMATORY_FIRST_SEED + largest <= PILOT_FIRST_SEED


def test_sign_flip_interval_matches_t_on_normal_data_and_pitman_morgan_finds_less_spread():
    rng = np.random.default_rng(11)
    x = rng.normal(1.0, 1.0, 14)
    sf, t = stats.sign_flip_test(x, 0.0, "two-sided"), stats.one_sample_t(x, 0.0, "two-sided")
    assert sf.ci_low == pytest.approx(t.ci_low, abs=0.15) and sf.ci_high == pytest.approx(t.ci_high, abs=0.15)
    a = rng.normal(0, 1, 16)
    res = stats.pitman_morgan(0.3 * a + rng.normal(0, 0.1, 16), a)
    assert res.p < 0.001 and res.ci_low < res.estimate < res.ci_high < 1
