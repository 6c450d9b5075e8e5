"""Knock-outs have designs of their own, planned on pilots of the knock-out itself so that they
fail with P >= 0.99 at the lower confidence bound of those pilots (CI then does not depend on
the machine the plans were made on)."""

from __future__ import annotations

import numpy as np
import pytest

from fml_bench.claims import CLAIMS, get_claim
from fml_bench.plans import knockout_plan_for, plan_for
from fml_bench.suite import SuiteConfig
from fml_bench.tiers import get_tier


@pytest.mark.parametrize("claim", [c for c in CLAIMS if c.knockout], ids=lambda c: c.id)
def test_every_fast_knockout_is_planned_to_fail_at_its_pilots_bound(claim):
    plan = knockout_plan_for(claim.id, "fast")
    assert plan is not None, f"{claim.id}: no knock-out plan; run benchmarks/plan_seeds.py --tier fast --knockouts"
    assert plan.p_fail_bound >= 0.99, f"{claim.id}: P(fail | knock-out) {plan.p_fail_bound} at the pilots' bound"


def test_the_suite_runs_a_knockout_at_its_own_design():
    claim = get_claim("underfit-logreg")
    knocked = SuiteConfig(tier=get_tier("fast"), store=None, knockout=True).design(claim)
    plain = SuiteConfig(tier=get_tier("fast"), store=None).design(claim)
    ko, own = knockout_plan_for(claim.id, "fast"), plan_for(claim.id, "fast")
    assert knocked.looks == ko.looks and plain.looks == own.looks


def test_a_knockout_without_a_plan_falls_back_to_the_claims_design():
    claim = get_claim("underfit-logreg")
    book = SuiteConfig(tier=get_tier("book"), store=None, knockout=True).design(claim)
    assert knockout_plan_for(claim.id, "book") is None
    assert book.looks == plan_for(claim.id, "book").looks


def test_every_plan_was_made_for_the_registered_family():
    """Adding a claim changes every claim's level (alpha / family size): this names each plan
    that must be redone (issue 22: the family size was a constant edited by hand)."""
    from fml_bench.claims import CLAIMS, FAMILY_SIZE
    from fml_bench.plans import stale_plans

    assert FAMILY_SIZE == len(CLAIMS)
    stale = stale_plans(FAMILY_SIZE)
    assert not stale, "re-plan with benchmarks/plan_seeds.py:\n" + "\n".join(stale)


def test_a_new_claim_names_every_plan_to_redo():
    from fml_bench.claims import FAMILY_SIZE
    from fml_bench.plans import stale_plans

    stale = stale_plans(FAMILY_SIZE + 1)
    assert "plans fast noise-channels (planned for 15 claims)" in stale and len(stale) >= 2 * FAMILY_SIZE


def test_a_look_whose_level_the_sign_test_floor_cannot_reach_is_named():
    """Issue 20: a sign test's p is at least 2^-n; a first look at 8 seeds of a level-0.001 look
    cannot pass a part, whatever the data (the planner skips such designs). Spread parts have
    no such floor."""
    from fml_bench.claims import FAMILY_SIZE, get_claim
    from fml_bench.part_tests import sign_test_floor, sign_test_pass_p
    from fml_bench.stats import SequentialDesign
    from fml_bench.suite import dead_looks

    assert sign_test_floor(8) == sign_test_pass_p(np.ones(8)) == 2.0**-8
    claim = get_claim("imdb-smaller")
    dead = dead_looks(claim, SequentialDesign((8, 16), 0.05 / FAMILY_SIZE))
    assert dead == {8: ["later-minimum", "rises-less"]}
    assert dead_looks(claim, SequentialDesign((10, 20), 0.05 / FAMILY_SIZE)) == {}
    assert dead_looks(get_claim("kfold-variance"), SequentialDesign((5, 8), 0.05 / FAMILY_SIZE)) == {}
