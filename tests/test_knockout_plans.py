"""Knock-outs have designs of their own, planned on pilots of the knock-out itself so that they
fail with P >= 0.99 at the lower confidence bound of those pilots (CI then does not depend on
the machine the plans were made on)."""

from __future__ import annotations

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
    assert (knocked.n1, knocked.n2) == (ko.n1, ko.n2) and (plain.n1, plain.n2) == (own.n1, own.n2)


def test_a_knockout_without_a_plan_falls_back_to_the_claims_design():
    claim = get_claim("underfit-logreg")
    book = SuiteConfig(tier=get_tier("book"), store=None, knockout=True).design(claim)
    assert knockout_plan_for(claim.id, "book") is None
    assert (book.n1, book.n2) == (plan_for(claim.id, "book").n1, plan_for(claim.id, "book").n2)
