"""Seed plans from pilot values: the sequential design of least expected seeds at which a claim
passes with P >= 0.95 at the pilots' lower confidence bound and fails with P >= 0.95 when its
effect is gone (each part's on its own, and all at once); a knock-out's design fails with
P >= 0.99 at the bound of its own pilots. Every probability is simulated through the decision
itself (`simulation.simulate`, the tests of `verdicts.p_values`).

Worlds draw seeds with replacement from the pilot values (all parts of a claim share each
world's draws, so correlations between arms and parts are the real ones), moved:
- *bound* (`bound_world`): each part's effect moved against the book by the distance from the
  pilots' median to its one-sided 95% lower bound (order statistics; the shape of the
  distribution as measured; for a spread, the bootstrap bound of the log sd ratio). Planning at
  the bound rather than at the pilots' own estimate keeps P(pass) at its target when ten or
  twenty pilots flattered the effect (issue 20: the estimate from ten pilots ranged 0.55-1.00).
  For a knock-out the move is toward the book: its fail made as hard as the bound allows.
- *zero* (`zero_world`): the effect gone: a difference's median at zero (no more seeds the book's
  way than the other), a band's median a band-width from its centre, a spread's sd ratio 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fml_bench.calibration import ZERO, boundary_world
from fml_bench.hypotheses import Kind, Part
from fml_bench.simulation import Outcome, Values, looks_without_power, simulate
from fml_bench.stats import SequentialDesign, distinct_looks, order_statistic_rank

PASS_TARGET = 0.95
FAIL_TARGET = 0.95
KNOCKOUT_TARGET = 0.99
BOUND_CONFIDENCE = 0.95
FIRST_LOOKS = (10, 12, 14, 16, 20, 24, 32, 48, 64, 96, 128, 192, 256)  # 2^-10: a sign test's first decision


#: Later looks as multiples of the first: one look, two (the second at 1.5x or 2x), three
#: (doubling, or 1.5x then 3x) and four (doubling). More looks let a strong effect stop at a small
#: first look while a weak one still reaches many seeds (issue 19); each look's level is its
#: share of alpha (`stats.SequentialDesign`).
LOOK_PATTERNS = ((1,), (1, 1.5), (1, 2), (1, 1.5, 3), (1, 2, 4), (1, 2, 4, 8))


def candidate_designs(alpha: float, max_seeds: int) -> list[SequentialDesign]:
    """Designs of one to four looks (`LOOK_PATTERNS` from each of `FIRST_LOOKS`) up to `max_seeds`."""
    out = {}
    for n1 in FIRST_LOOKS:
        for pattern in LOOK_PATTERNS:
            looks = distinct_looks(round(n1 * m) for m in pattern)
            if looks[-1] <= max_seeds:
                out[looks] = SequentialDesign(looks, alpha)
    return list(out.values())


def _cheaper(expected_seeds: float, design: SequentialDesign) -> tuple:
    """Order among designs meeting their targets: fewer expected seeds (to a tenth of a seed: the
    worlds' own noise), then fewer seeds at most, then fewer looks."""
    return (-round(expected_seeds, 1), -design.last_look, -len(design.looks))


def median_margin(oriented: np.ndarray, confidence: float = BOUND_CONFIDENCE) -> float:
    """The median of `oriented` minus its distribution-free one-sided lower bound at
    `confidence` (an order statistic); the range below the median when n is too small."""
    d = np.sort(np.asarray(oriented, float))
    low = d[max(order_statistic_rank(len(d), 1 - confidence) - 1, 0)]
    return float(np.median(d) - low)


def _spread_bound_scale(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, toward_book: bool,
                        boots: int = 2000) -> float:
    n = len(a)
    idx = rng.integers(0, n, (boots, n))
    ratios = np.log(np.std(a[idx], axis=1, ddof=1) / np.maximum(np.std(b[idx], axis=1, ddof=1), 1e-12))
    observed = np.log(np.std(a, ddof=1) / max(np.std(b, ddof=1), 1e-12))
    # the book's way is a smaller ratio: toward the book the lower quantile, against it the upper
    bound = float(np.quantile(ratios, 1 - BOUND_CONFIDENCE if toward_book else BOUND_CONFIDENCE))
    return float(np.exp(bound - observed))


def bound_world(part: Part, a: np.ndarray, b: np.ndarray | None, rng: np.random.Generator, tier: str,
                toward_book: bool = False) -> Values:
    """The values with the part's effect moved by its one-sided 95% margin: against the book (a
    claim's pass made as hard as the pilots allow) or, `toward_book`, toward it (a knock-out's
    fail made as hard)."""
    if part.kind is Kind.LESS_SPREAD:
        assert b is not None
        scale = _spread_bound_scale(a, b, rng, toward_book)
        scale = min(1.0, scale) if toward_book else max(1.0, scale)
        return np.mean(a) + (a - np.mean(a)) * scale, b
    diff = a - b if b is not None else a
    if part.kind is Kind.WITHIN:
        offset = float(np.median(diff)) - part.null
        margin = median_margin(np.abs(diff - part.null))
        if toward_book:  # toward the band's centre, never past it
            return a - np.sign(offset) * min(margin, abs(offset)), b
        return a + (np.sign(offset) or 1.0) * margin, b
    sign = part.direction.sign
    margin = median_margin(sign * (diff - part.null))
    if part.discrete:  # whole epochs: a half-epoch shift would make ties into losses that cannot occur
        margin = float(np.floor(margin))
    return a + sign * (margin if toward_book else -margin), b


def zero_world(part: Part, a: np.ndarray, b: np.ndarray | None, sesoi: float) -> Values:
    """The values with the part's effect gone (see the module doc)."""
    if part.kind is Kind.WITHIN:
        diff = a - b if b is not None else a
        side = 1.0 if np.median(diff) >= part.null else -1.0  # a band-width out: one half-width past the edge
        return a + (part.null + side * 2 * part.half_width - float(np.median(diff))), b
    return boundary_world(part, a, b, sesoi, ZERO)


def _row(design: SequentialDesign) -> dict:
    return {"looks": list(design.looks)}


def plan_claim(parts: Sequence[Part], pilot: Sequence[Values], tier: str, alpha: float, worlds: int, seed: int,
               max_seeds: int = 64, machines: Sequence[Sequence[Values]] = ()) -> dict:
    """The design of least expected seeds (at the pilots) meeting every target (P(pass | bound),
    P(fail | all effects 0), P(fail | each part's effect 0)); else the least meeting the first
    two (the per-part fail chances are recorded as they are: a part whose spread is wide against
    its SESOI cannot reach 0.95 in any affordable design); else the best seen (target_met False).

    `machines`: when `pilot` pools the pilots of several machines (their floating point
    differs, and a discrete metric such as the epoch of a minimum can move with it), each
    machine's own pilots; a design then also needs P(pass) >= PASS_TARGET at each of them as
    measured (`p_pass_machines`), so that it holds on every machine and not only on their mixture."""
    rng = np.random.default_rng(seed)
    bound = [bound_world(p, a, b, rng, tier) for p, (a, b) in zip(parts, pilot)]
    zeros = [zero_world(p, a, b, p.sesoi_for(tier).value) for p, (a, b) in zip(parts, pilot)]
    best, best_key = None, None
    for design in candidate_designs(alpha, max_seeds):
        if looks_without_power(parts, design):
            continue
        at_bound = simulate(parts, bound, tier, design, worlds, np.random.default_rng(seed + 1))
        at_pilot = simulate(parts, pilot, tier, design, worlds, np.random.default_rng(seed + 2))
        all_zero = simulate(parts, zeros, tier, design, worlds, np.random.default_rng(seed + 3))
        alone = [simulate(parts, [zeros[i] if j == i else pilot[j] for j in range(len(parts))], tier, design,
                          worlds, np.random.default_rng(seed + 4 + i)) for i in range(len(parts))]
        on_machines = [simulate(parts, values, tier, design, worlds, np.random.default_rng(seed + 50 + i)).p_pass
                       for i, values in enumerate(machines)]
        entry = {**_row(design), "p_pass": round(at_bound.p_pass, 4), "p_pass_pilot": round(at_pilot.p_pass, 4),
                 "p_fail": round(all_zero.p_fail, 4), "expected_seeds": round(at_pilot.expected_seeds, 2),
                 "parts": [_part_figures(p, i, at_bound, alone[i]) for i, p in enumerate(parts)],
                 **({"p_pass_machines": [round(x, 4) for x in on_machines]} if machines else {})}
        claim_met = (at_bound.p_pass >= PASS_TARGET and all_zero.p_fail >= FAIL_TARGET
                     and all(x >= PASS_TARGET for x in on_machines))
        parts_met = claim_met and all(o.p_fail >= FAIL_TARGET for o in alone)
        key = (claim_met, parts_met, *(_cheaper(at_pilot.expected_seeds, design) if claim_met
                                         else (min(at_bound.p_pass, all_zero.p_fail, *on_machines),)))
        if best_key is None or key > best_key:
            best, best_key = {**entry, "target_met": claim_met, "parts_target_met": parts_met}, key
    if best is None:
        raise ValueError(f"every candidate design up to {max_seeds} seeds has a look that cannot decide a part")
    return best


def _part_figures(part: Part, i: int, at_bound: Outcome, alone_zero: Outcome) -> dict:
    return {"part": part.id, "p_pass_bound": round(at_bound.part_pass[i], 4),
            "p_fail_zero": round(alone_zero.p_fail, 4)}


def plan_knockout(parts: Sequence[Part], pilot: Sequence[Values], tier: str, alpha: float, worlds: int, seed: int,
                  same: Sequence[bool], max_seeds: int = 256) -> dict:
    """The knock-out design of least expected seeds with P(fail) >= KNOCKOUT_TARGET at the bound
    of its own pilots. Arms that are the same runs (`same`) are kept as they are (no bound to
    move), and every part goes through the tests, never the identical-arms rule: a knock-out's arm trained in a stack of
    another size than the arm it copies differs by rounding (CI: overfit-capacity's knock-out,
    planned at 3 seeds on identical pilot arms, was inconclusive), and the tests then see
    differences of about 1e-7, which they treat as the ties of identical values."""
    rng = np.random.default_rng(seed)
    bound = [(a, b) if s else bound_world(p, a, b, rng, tier, toward_book=True)
             for p, (a, b), s in zip(parts, pilot, same)]
    best, best_key = None, None
    for design in candidate_designs(alpha, max_seeds):
        at_bound = simulate(parts, bound, tier, design, worlds, np.random.default_rng(seed + 1))
        at_pilot = simulate(parts, pilot, tier, design, worlds, np.random.default_rng(seed + 2))
        met = at_bound.p_fail >= KNOCKOUT_TARGET
        key = (met, *(_cheaper(at_pilot.expected_seeds, design) if met else (at_bound.p_fail,)))
        if best_key is None or key > best_key:
            best = {**_row(design), "p_fail_bound": round(at_bound.p_fail, 4),
                    "p_fail_pilot": round(at_pilot.p_fail, 4), "expected_seeds": round(at_pilot.expected_seeds, 2),
                    "target_met": met}
            best_key = key
    assert best is not None
    return best
