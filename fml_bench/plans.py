"""Seed plans: for each claim and tier, the looks (seed counts) of its sequential design, with
the figures they were computed from (`benchmarks/plan_seeds.py` writes `seed_plans.json`).

Pilot runs use seeds from `PILOT_FIRST_SEED` on; confirmatory runs from
`CONFIRMATORY_FIRST_SEED`: the seeds a plan is tuned on never confirm it.

A knock-out has a design of its own (`knockout_plan_for`), planned on pilots of the knock-out
itself (seeds from `KNOCKOUT_PILOT_FIRST_SEED`) so that it fails with P >= 0.99 at the lower
confidence bound of what those pilots measured: a knock-out whose fail has no margin turns CI
red on a machine whose floating point differs from the planner's.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from fml_bench.errors import UnknownNameError

PILOT_FIRST_SEED = 1000
KNOCKOUT_PILOT_FIRST_SEED = 3000
CONFIRMATORY_FIRST_SEED = 0
PLANS_FILE = Path(__file__).with_name("seed_plans.json")


@dataclass(frozen=True)
class SeedPlan:
    """looks: the seed counts at which the claim is looked at (increasing; `stats.SequentialDesign`).
    p_pass: the chance of *pass* if the effect is at the pilots' lower 95% bound; p_fail: the
    chance of *fail* if it is zero (the knock-out); both simulated through the claim's own
    decision at its level. source: how the plan was made.
    changes: earlier plans of this claim, the seeds they looked at and the alpha they had spent,
    in order (the seed ledger: a new plan starts on a fresh block, `first_seed`, so the looks an
    earlier design spent are never looked at again under the new one)."""

    looks: tuple[int, ...]
    p_pass: float | None  # None: not simulated (no pilots at this tier)
    p_fail: float | None
    source: str
    changes: tuple[str, ...] = ()
    family_size: int | None = None  # the number of claims whose family level it was planned at
    expected_seeds: float | None = None  # seeds the design takes on average if the pilots are the truth
    parts: tuple[dict, ...] = ()  # per part: P(pass) at the pilots' bound, P(fail) with its effect gone
    first_seed: int = 0  # the plan's block of confirmatory seeds starts here (a re-plan takes a fresh block)


@dataclass(frozen=True)
class KnockoutPlan:
    """looks: the knock-out's looks (seed counts). p_fail_pilot: P(fail) simulated on its pilots as measured;
    p_fail_bound: at their lower confidence bound (each part's fail test made as hard as the
    pilots' one-sided 95% bound allows); source: how the plan was made."""

    looks: tuple[int, ...]
    p_fail_pilot: float
    p_fail_bound: float
    source: str


SEED_BLOCK = 100


def entry_looks(entry: dict) -> tuple[int, ...]:
    """A plan entry's looks: "looks", or the first and second look ("n1", "n2") of the two-look
    entries written before designs could have more (a repeated count is one look)."""
    from fml_bench.stats import distinct_looks

    return distinct_looks(entry["looks"] if "looks" in entry else (entry["n1"], entry["n2"]))


def next_seed_block(previous: dict | None) -> int:
    """Where a replacing plan's seeds start: the first multiple of SEED_BLOCK past every seed the
    plan it replaces could have looked at (0 for a first plan)."""
    if previous is None:
        return 0
    end = int(previous.get("first_seed", 0)) + entry_looks(previous)[-1]
    return -(-end // SEED_BLOCK) * SEED_BLOCK


@functools.lru_cache(maxsize=1)
def _document() -> dict:
    return json.loads(PLANS_FILE.read_text())


def _load() -> dict[str, dict[str, dict]]:
    return _document()["plans"]


def knockout_plan_for(claim_id: str, tier: str) -> KnockoutPlan | None:
    """The knock-out design of `claim_id` at `tier`, or None when none was planned (the claim's
    own design is used then)."""
    entry = _document().get("knockouts", {}).get(tier, {}).get(claim_id)
    if entry is None:
        return None
    return KnockoutPlan(looks=entry_looks(entry), p_fail_pilot=entry["p_fail_pilot"],
                        p_fail_bound=entry["p_fail_bound"], source=entry["source"])


def plan_for(claim_id: str, tier: str) -> SeedPlan:
    """The registered plan of `claim_id` at `tier`."""
    try:
        entry = _load()[tier][claim_id]
    except KeyError:
        raise UnknownNameError(f"no seed plan for claim {claim_id!r} at tier {tier!r} in {PLANS_FILE.name}; "
                               f"run `python benchmarks/plan_seeds.py --tier {tier}`") from None
    return SeedPlan(looks=entry_looks(entry), p_pass=entry["p_pass"], p_fail=entry["p_fail"],
                    source=entry["source"], changes=tuple(entry.get("changes", ())),
                    family_size=entry.get("family_size"), expected_seeds=entry.get("expected_seeds"),
                    parts=tuple(entry.get("parts", ())), first_seed=int(entry.get("first_seed", 0)))


def stale_plans(family_size: int) -> list[str]:
    """Every plan (claims' and knock-outs') made for a family of another size than `family_size`:
    adding or removing a claim changes every claim's level (alpha / family size), so each of
    these must be re-planned (`python benchmarks/plan_seeds.py --tier T [--knockouts] CLAIM`)."""
    document = _document()
    return [f"{section} {tier} {claim} (planned for {entry.get('family_size', '?')} claims)"
            for section in ("plans", "knockouts") for tier, entries in document.get(section, {}).items()
            for claim, entry in entries.items() if entry.get("family_size") != family_size]
