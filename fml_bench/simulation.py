"""Claims decided in many simulated worlds at once: the planner's and the calibration's engine.

A world is a draw of seeds (rows of indices into per-seed values); each part's p-values come
from `verdicts.p_values`, the function the real decision uses, so a simulated verdict is the
verdict the suite would give on those values (tests/test_part_tests.py checks it against
`decide_part` world by world). Verdicts are coded PASS_CODE / FAIL_CODE / UNDECIDED.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fml_bench.hypotheses import Kind, Part
from fml_bench.part_tests import sign_test_floor
from fml_bench.stats import SequentialDesign
from fml_bench.verdicts import fail_level, p_values

PASS_CODE, FAIL_CODE, UNDECIDED = 1, -1, 0
Values = tuple[np.ndarray, "np.ndarray | None"]


def part_codes(part: Part, a: np.ndarray, b: np.ndarray | None, sesoi: float, level: float,
               fail_at: float) -> np.ndarray:
    """The verdict code of `part` in each row of `a` (and `b`), seeds on the last axis. Never by
    the identical-arms rule: a plan must not count on arms staying bit-identical (a knock-out's
    arm trained in a stack of another size differs by rounding)."""
    p_pass, p_fail = p_values(part, a, b, sesoi)
    return np.where(p_fail < fail_at, FAIL_CODE, np.where(p_pass < level, PASS_CODE, UNDECIDED))


def combine_codes(codes: np.ndarray) -> np.ndarray:
    """A claim's code from its parts' (parts on the first axis): fail if any fails, pass if all pass."""
    return np.where((codes == FAIL_CODE).any(axis=0), FAIL_CODE,
                    np.where((codes == PASS_CODE).all(axis=0), PASS_CODE, UNDECIDED))


@dataclass(frozen=True)
class Outcome:
    """Shares of worlds: the claim's pass and fail, and per part its own pass and fail (each part
    through the looks on its own, at its level and its fail level within the claim)."""

    p_pass: float
    p_fail: float
    part_pass: tuple[float, ...]
    part_fail: tuple[float, ...]
    expected_seeds: float
    worlds: int


def looks_without_power(parts: Sequence[Part], design: SequentialDesign) -> dict[int, list[str]]:
    """Per look (its seed count), the parts it cannot pass whatever the data: parts decided by
    sign tests (every part but a spread) whose floor `part_tests.sign_test_floor(n)` (every seed
    the book's way) is not below the look's level (issue 20)."""
    out = {n: [p.id for p in parts if p.kind is not Kind.LESS_SPREAD and sign_test_floor(n) >= design.level(n)]
           for n in design.looks}
    return {n: ids for n, ids in out.items() if ids}


def simulate(parts: Sequence[Part], values: Sequence[Values], tier: str, design: SequentialDesign, worlds: int,
             rng: np.random.Generator, fail_parts: int | None = None, chunk: int = 4096) -> Outcome:
    """Draw `worlds` worlds of design.last_look seeds with replacement from `values` (per part, the pilot
    (a, b), all parts sharing each world's draws, so arms and parts keep their correlations) and
    decide them through the design's looks. fail_parts: the number of parts of the claim whose
    fail level applies (default: len(parts); a part simulated alone keeps its claim's)."""
    n_pilot = len(values[0][0])
    sesois = [p.sesoi_for(tier).value for p in parts]
    claim_final = np.empty(worlds, int)
    part_final = np.empty((len(parts), worlds), int)
    seeds_used = np.empty(worlds, float)
    for start in range(0, worlds, chunk):
        idx = rng.integers(0, n_pilot, (min(chunk, worlds - start), design.last_look))
        claim_code = np.full(len(idx), UNDECIDED)
        part_code = np.full((len(parts), len(idx)), UNDECIDED)
        used = np.full(len(idx), float(design.last_look))
        claim_open = np.ones(len(idx), bool)
        for n in design.looks:
            level = design.level(n)
            fail_at = fail_level(level, fail_parts or len(parts))
            rows = idx[:, :n]
            codes = np.stack([part_codes(p, a[rows], None if b is None else b[rows], s, level, fail_at)
                              for p, (a, b), s in zip(parts, values, sesois)])
            part_code = np.where(part_code == UNDECIDED, codes, part_code)
            combined = combine_codes(codes)
            decided_now = claim_open & (combined != UNDECIDED)
            claim_code = np.where(decided_now, combined, claim_code)
            used = np.where(decided_now, float(n), used)
            claim_open &= combined == UNDECIDED
        end = start + len(idx)
        claim_final[start:end], part_final[:, start:end], seeds_used[start:end] = claim_code, part_code, used
    return Outcome(p_pass=float(np.mean(claim_final == PASS_CODE)), p_fail=float(np.mean(claim_final == FAIL_CODE)),
                   part_pass=tuple(float(np.mean(c == PASS_CODE)) for c in part_final),
                   part_fail=tuple(float(np.mean(c == FAIL_CODE)) for c in part_final),
                   expected_seeds=float(seeds_used.mean()), worlds=worlds)
