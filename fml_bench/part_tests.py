"""The p-values a part's verdict rests on, vectorised over worlds: one function serves the real
decision (`verdicts.decide_part`, one row) and the simulations that plan and calibrate it
(`simulation.py`, tens of thousands of rows), so what is calibrated is what decides.

Every function takes values with the seeds on the last axis (shape (..., n)) and returns one p
per row. The choice per kind of part, and why (docs/statistics.md has the calibration table):

- **differences** (accuracies, losses, slopes, rises, epochs): exact sign tests, so a part is a
  statement about the typical seed (the median), as the book's "the smaller model overfits
  later" is. *Pass* when more seeds lie on the book's side of zero than on the other (ties
  dropped: exact conditionally on their number); *fail* when fewer than half the seeds reach the
  SESOI (ties at the SESOI count as reaching it). Both are exact for every distribution the
  differences can have: skewed (a rise after the minimum is bounded below by zero), tied and
  asymmetric (epochs: +1 in most seeds, -4 in a few), heavy-tailed (one seed whose loss spikes).
  A test of the mean cannot be: no test of a mean is valid for every distribution at a fixed n
  (Bahadur and Savage 1956), and at the levels the claims use (0.0002-0.0023) and 5-24 seeds
  Student's t and Hall's skewness-corrected t both fired 2-40x too often in worlds resampled
  from the real per-seed values (issue 20; the rates are in docs/statistics.md). The price: a
  sign test needs every seed the book's way to reach 2^-n, so a look needs n >= 10 at the first
  look's level (the planner skips designs with a look that cannot decide).
- **bands** (a mean inside centre +/- half-width): the same sign tests at the band's edges:
  *pass* when fewer than half the seeds lie at or beyond either edge, *fail* when more than half
  lie beyond one of them (the two sides Bonferroni-combined).
- **spreads of paired arms**: the larger of two p-values, Pitman-Morgan's (exact for normal
  arms at any n) and its heteroscedasticity-consistent form (the mean of the products of the
  centred sums and differences over its own standard error, valid for any finite fourth moment
  as n grows; Wilcox 2015): a max of p-values is valid whenever either test is. The spread parts
  run at 128-256 seeds.

Student's and Hall's t stay here for the calibration's comparison and as the reports'
cross-check (`t_p`); `DIFFERENCE_TEST` switches the decision to them for that comparison only.
"""

from __future__ import annotations

import numpy as np

from fml_bench.stats import binom_cdf, binom_sf, degenerate_p, pitman_morgan_statistic, t_cdf, t_sf

SIGN, STUDENT, HALL = "sign", "student", "hall"
#: The test of difference and band parts; the calibration sets STUDENT or HALL to compare.
DIFFERENCE_TEST = SIGN


def _no_spread(x: np.ndarray) -> np.ndarray:
    return np.ptp(x, axis=-1) == 0


def t_p(x, value: float | np.ndarray = 0.0, alternative: str = "greater", test: str | None = None) -> np.ndarray:
    """One-sided p of mean(x) against `value` ("greater": H1 mean > value), per row, by
    Student's t (the default) or Hall's skewness-corrected t: the calibration's comparison and
    the reports' cross-check, not the decision (see the module doc)."""
    test = test or STUDENT
    x = np.asarray(x, float)
    n = x.shape[-1]
    d = x - np.asarray(value, float)[..., None] if np.ndim(value) else x - value
    mean = d.mean(axis=-1)
    centred = d - mean[..., None]
    sd = np.sqrt((centred**2).sum(axis=-1) / (n - 1))
    flat = _no_spread(x) | (sd == 0)
    safe_sd = np.where(flat, 1.0, sd)
    theta = mean / safe_sd
    if test == HALL:
        biased_sd = np.sqrt((centred**2).mean(axis=-1))
        gamma = (centred**3).mean(axis=-1) / np.where(flat, 1.0, biased_sd) ** 3
        statistic = np.sqrt(n) * (theta + gamma * theta**2 / 3 + gamma**2 * theta**3 / 27 + gamma / (6 * n))
    elif test == STUDENT:
        statistic = np.sqrt(n) * theta
    else:
        raise ValueError(f"unknown continuous test {test!r}: {STUDENT!r} or {HALL!r}")
    p = t_sf(statistic, n - 1) if alternative == "greater" else t_cdf(statistic, n - 1)
    return np.where(flat, degenerate_p(mean, alternative, n), p)


def sign_test_pass_p(oriented) -> np.ndarray:
    """p of "more seeds lie above zero than below" (H0: P(d > 0) <= P(d < 0)): the exact sign
    test conditional on the number of non-zero differences (1 when every one is zero)."""
    d = np.asarray(oriented, float)
    above, below = (d > 0).sum(axis=-1), (d < 0).sum(axis=-1)
    nonzero = above + below
    return np.where(nonzero > 0, binom_sf(above - 1, np.maximum(nonzero, 1)), 1.0)


def sign_test_fail_p(oriented, sesoi: float) -> np.ndarray:
    """p of "fewer than half the seeds reach the SESOI" (H0: P(d >= sesoi) >= 1/2): exact for
    any distribution, ties at the SESOI counted as reaching it."""
    d = np.asarray(oriented, float)
    reach = (d >= sesoi - 1e-9).sum(axis=-1)
    return binom_cdf(reach, d.shape[-1])


def sign_test_floor(n: int) -> float:
    """The smallest p a sign test on n seeds can give (2^-n, every seed on one side): a look
    whose level is at or below it cannot decide a discrete part."""
    return 2.0**-n


def spread_p(a, b, ratio: float = 1.0, alternative: str = "less") -> np.ndarray:
    """p that sd(a) lies below ("less") or above ("greater") `ratio` x sd(b), paired by seed: the
    larger of Pitman-Morgan's and its heteroscedasticity-consistent form (see the module doc)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    n = a.shape[-1]
    tail = t_cdf if alternative == "less" else t_sf
    classic = tail(pitman_morgan_statistic(a, b, ratio), n - 2)
    robust = tail(pitman_morgan_statistic(a, b, ratio, robust=True), n - 1)
    return np.maximum(classic, robust)


def band_p(diff, low_edge: float, high_edge: float) -> tuple[np.ndarray, np.ndarray]:
    """(p_pass, p_fail) of a band by sign tests: pass when fewer than half the seeds lie at or
    beyond either edge, fail when more than half lie beyond one (Bonferroni over the sides)."""
    d = np.asarray(diff, float)
    n = d.shape[-1]
    at_or_below, at_or_above = (d <= low_edge).sum(axis=-1), (d >= high_edge).sum(axis=-1)
    below, above = (d < low_edge).sum(axis=-1), (d > high_edge).sum(axis=-1)
    p_pass = np.maximum(binom_cdf(at_or_below, n), binom_cdf(at_or_above, n))
    p_out = np.minimum(binom_sf(below - 1, n), binom_sf(above - 1, n))
    return p_pass, np.minimum(1.0, 2 * p_out)


def tost_p(diff, low_edge: float, high_edge: float, test: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(p inside, p outside) of a band's mean by two one-sided t tests at its edges (outside on
    either side Bonferroni-combined): the calibration's comparison."""
    above_low, below_high = t_p(diff, low_edge, "greater", test), t_p(diff, high_edge, "less", test)
    above_high, below_low = t_p(diff, high_edge, "greater", test), t_p(diff, low_edge, "less", test)
    return np.maximum(above_low, below_high), np.minimum(1.0, 2 * np.minimum(above_high, below_low))


def difference_p(oriented, sesoi: float, test: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(p_pass, p_fail) of a difference part on its oriented values (positive the book's way)."""
    test = test or DIFFERENCE_TEST
    if test == SIGN:
        return sign_test_pass_p(oriented), sign_test_fail_p(oriented, sesoi)
    return t_p(oriented, 0.0, "greater", test), t_p(oriented, sesoi, "less", test)


def within_p(diff, low_edge: float, high_edge: float, test: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(p_pass, p_fail) of a band part."""
    test = test or DIFFERENCE_TEST
    return band_p(diff, low_edge, high_edge) if test == SIGN else tost_p(diff, low_edge, high_edge, test)
