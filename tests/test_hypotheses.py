"""The typed parts of a claim refuse a wrong field when built, naming the field and the value."""

from __future__ import annotations

import pytest

from fml_bench.claims import ALL, CLAIM, SECTIONS, Claim, Knockout
from fml_bench.hypotheses import Direction, Kind, Sesoi, greater, less_spread, within
from fml_bench.metrics import best, last

SESOI = {"fast": Sesoi(0.01, "test")}


@pytest.mark.parametrize(("build", "field"), [
    (lambda: greater("Bad Id", "says", best("val_loss"), "a", sesoi=SESOI), "'id'"),
    (lambda: greater("ok", "", best("val_loss"), "a", sesoi=SESOI), "'says'"),
    (lambda: greater("ok", "says", "best val_loss", "a", sesoi=SESOI), "'metric'"),
    (lambda: greater("ok", "says", best("val_loss"), "a", sesoi={}), "'sesoi'"),
    (lambda: greater("ok", "says", best("val_loss"), "a", sesoi={"fast": 0.01}), "sesoi['fast']"),
    (lambda: greater("ok", "says", best("val_loss"), "a", than=float("nan"), sesoi=SESOI), "'null'"),
    (lambda: within("ok", "says", last("accuracy"), "a", center=0.1, half_width=0, source="x"), "'half_width'"),
    (lambda: Sesoi(-1, "x"), "Sesoi.value"),
    (lambda: Sesoi(1, " "), "Sesoi.source"),
])
def test_a_wrong_field_is_refused_by_name(build, field):
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        build()


def test_directions_are_enums_and_spread_parts_need_two_arms():
    part = greater("ok", "says", best("val_loss"), "a", "b", sesoi=SESOI)
    assert part.direction is Direction.GREATER and part.kind is Kind.DIFFERENCE
    with pytest.raises(TypeError):
        less_spread("ok", "says", best("val_loss"), "a", sesoi=SESOI)  # b is required


def test_a_claim_needs_a_knockout_on_its_own_experiments():
    part = greater("ok", "says", best("val_loss"), "a", "b", sesoi=SESOI)
    with pytest.raises(ValueError, match="knock-out"):
        Claim("x", "5.1", "s", "b", (part,), knockout=None, kind=CLAIM)
    with pytest.raises(ValueError, match="does not use"):
        Claim("x", "5.1", "s", "b", (part,), knockout=Knockout("k", {"c": {"epochs": 1}}))


def test_every_registered_part_has_a_sesoi_for_every_tier_and_claims_are_grouped_by_section():
    from fml_bench.tiers import TIERS

    for claim in ALL:
        for part in claim.parts:
            for tier in TIERS:
                assert part.sesoi_for(tier).value > 0 and part.sesoi_for(tier).source
    for section, claims in SECTIONS.items():
        assert all(c.section.startswith(section) for c in claims)


def test_a_tier_without_its_own_smallest_effect_is_refused_not_given_the_books():
    # Issue 22: any tier fell back silently to the book tier's SESOI.
    from fml_bench.claims import get_claim
    from fml_bench.errors import UnknownNameError

    rises = get_claim("imdb-larger").parts[0]  # per tier: fast 0.027, book 0.1
    assert rises.sesoi_for("fast").value == 0.027 and rises.sesoi_for("book").value == 0.1
    with pytest.raises(UnknownNameError, match="no smallest effect of interest for tier 'tiny'"):
        rises.sesoi_for("tiny")
    earlier = get_claim("imdb-larger").parts[3]  # earlier-minimum: the book's figure, at every scale
    assert earlier.sesoi_for("tiny").value == earlier.sesoi_for("fast").value == 1
