"""The A/B's rules on known worlds: a part unchanged, changed toward or away from the book, or
undecided; a time ratio flagged slower only when its lower bound clears the threshold."""

from __future__ import annotations

import numpy as np
import pytest

from fml_bench import ab_stats
from fml_bench.ab import compare_effects
from fml_bench.hypotheses import Sesoi, less, less_spread, within
from fml_bench.metrics import Metric

VALUE = Metric("value", "val_loss", lambda r: 0.0)
LOSS_DROP = less("d", "dropout lowers late loss", VALUE, "a", "b", sesoi={"fast": Sesoi(0.09, "test")})


def _arms(rng, effect: float, n: int = 8, noise: float = 0.01):
    b = rng.normal(0.6, 0.05, n)
    return b - effect + rng.normal(0, noise, n), b


def test_the_same_values_are_unchanged_with_a_zero_interval():
    rng = np.random.default_rng(0)
    a, b = _arms(rng, 0.2)
    change = ab_stats.compare_part(LOSS_DROP, "c", "fast", (a, b), (a.copy(), b.copy()), 0.95)
    assert change.verdict == ab_stats.UNCHANGED and change.ci_low == change.ci_high == 0.0 and not change.alarm


def test_a_shrunken_effect_is_changed_away_from_the_book_and_a_grown_one_toward_it():
    rng = np.random.default_rng(1)
    a, b = _arms(rng, 0.2)
    weaker = (a + 0.09 + rng.normal(0, 0.005, 8), b)
    change = ab_stats.compare_part(LOSS_DROP, "c", "fast", (a, b), weaker, 0.95)
    assert change.verdict == ab_stats.CHANGED and change.direction == ab_stats.AWAY and change.alarm
    assert change.delta == pytest.approx(-0.09, abs=0.01)
    stronger = ab_stats.compare_part(LOSS_DROP, "c", "fast", (a, b), (a - 0.09, b), 0.95)
    assert stronger.direction == ab_stats.TOWARD and not stronger.alarm


def test_a_noisy_small_change_is_undecided():
    rng = np.random.default_rng(2)
    a, b = _arms(rng, 0.2, n=4)
    noisy = (a + 0.04 + rng.normal(0, 0.05, 4), b)
    assert ab_stats.compare_part(LOSS_DROP, "c", "fast", (a, b), noisy, 0.95).verdict == ab_stats.UNDECIDED


def test_a_band_part_moving_off_centre_is_away_from_the_book():
    band = within("w", "plateau", VALUE, "a", center=0.0, half_width=0.003, source="test")
    rng = np.random.default_rng(3)
    flat = rng.normal(0, 0.0003, 10)
    change = ab_stats.compare_part(band, "c", "fast", (flat, None), (flat + 0.004, None), 0.95)
    assert change.verdict == ab_stats.CHANGED and change.direction == ab_stats.AWAY


def test_a_spread_part_compares_log_sd_ratios_by_paired_bootstrap():
    part = less_spread("s", "less spread", VALUE, "a", "b", sesoi={"fast": Sesoi(0.35, "test")})
    rng = np.random.default_rng(4)
    a, b = rng.normal(0, 0.3, 64), rng.normal(0, 1, 64)
    same = ab_stats.compare_part(part, "c", "fast", (a, b), (a, b), 0.95, rng)
    assert same.verdict == ab_stats.UNCHANGED
    wider = ab_stats.compare_part(part, "c", "fast", (a, b), (3 * a, b), 0.95, rng)
    assert wider.verdict == ab_stats.CHANGED and wider.direction == ab_stats.AWAY


def test_speed_flags_slower_only_past_the_threshold_and_power_grows_with_rounds():
    rng = np.random.default_rng(5)
    base = rng.uniform(0.9, 1.1, 8)
    slow = ab_stats.speed_change("x", list(zip(base, base * 1.2 * np.exp(rng.normal(0, 0.02, 8)))), 0.99)
    assert slow.verdict == ab_stats.SLOWER and slow.alarm and 1.1 < slow.ratio < 1.3
    same = ab_stats.speed_change("x", list(zip(base, base * np.exp(rng.normal(0, 0.02, 8)))), 0.99)
    assert same.verdict == ab_stats.SAME_SPEED and not same.alarm
    assert ab_stats.slowdown_power(0.05, 4, 0.99) < ab_stats.slowdown_power(0.05, 16, 0.99)
    rounds = ab_stats.rounds_for_power(0.05, 0.99)
    assert rounds is not None and ab_stats.slowdown_power(0.05, rounds, 0.99) >= 0.9


def _doc(verdict: str, values_a: list[float], values_b: list[float]) -> dict:
    part = {"part_id": "late-val-loss", "values_a": values_a, "values_b": values_b}
    return {"claims": [{"claim_id": "imdb-dropout", "verdict": verdict, "first_seed": 0, "seeds": len(values_a),
                        "parts": [part], "knockout": ""}]}


def test_effects_are_compared_per_registered_part_and_a_flip_to_fail_is_an_alarm():
    plain = [0.62, 0.6, 0.61, 0.63, 0.6, 0.64]
    a = _doc("pass", [v - 0.2 for v in plain], plain)
    b = _doc("fail", [v - 0.01 for v in plain], plain)
    flips, parts, notes = compare_effects(a, b, "fast")
    assert [f.alarm for f in flips] == [True] and parts[0].verdict == ab_stats.CHANGED and not notes


@pytest.mark.parametrize("noise", ["normal", "t3"])
def test_a_change_no_larger_than_the_tolerance_is_called_changed_at_most_at_the_stated_rate(noise):
    """Calibration of the effect rule: 2,000 worlds whose true change equals the tolerance (the
    boundary of 'changed'), per-seed build differences with normal or heavy-tailed (t, 3 degrees
    of freedom) noise; 'changed' must come at most at the interval's one-sided tail
    (1 - confidence) / 2 (binomial 99% upper limit). Strongly skewed differences are where the t
    interval does not hold: see the module docstring of `ab_stats`."""
    from scipy import stats as sps

    rng = np.random.default_rng(7)
    confidence, worlds, n = 0.99, 2000, 8
    tol = ab_stats.tolerance_of(LOSS_DROP, "fast")
    draw = {"normal": lambda: rng.normal(0, 1, n), "t3": lambda: rng.standard_t(3, n)}[noise]
    changed = 0
    for _ in range(worlds):
        a, b = _arms(rng, 0.2, n=n)
        noisy = a - tol + 0.02 * draw()  # the effect grows by exactly the tolerance, plus build noise
        changed += ab_stats.compare_part(LOSS_DROP, "c", "fast", (a, b), (noisy, b), confidence).verdict == "changed"
    limit = sps.binom.ppf(0.99, worlds, (1 - confidence) / 2) / worlds
    assert changed / worlds <= max(limit, 3 / worlds), f"{noise}: changed in {changed} of {worlds} worlds"
