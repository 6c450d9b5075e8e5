"""Statistics over seeds: small pure functions over numpy arrays, arithmetic from scipy.stats.

Conventions: `a`, `b` are 1-D arrays of one metric, one value per seed; paired functions
require the same seeds in the same order. `alternative` is scipy's: "greater" tests
mean(a - b) > margin (or mean(x) > value). Intervals are two-sided at `confidence`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats


@dataclass(frozen=True)
class TestResult:
    """A hypothesis test and its effect estimate.

    estimate: the mean difference (or mean) with its interval [ci_low, ci_high];
    p: the p-value of the stated test; n: seeds per arm.
    """

    test: str
    estimate: float
    ci_low: float
    ci_high: float
    p: float
    n: int
    statistic: float = float("nan")


NO_SPREAD = "no spread: exact sign test"


def _t_interval(d: np.ndarray, confidence: float) -> tuple[float, float]:
    """The t interval of mean(d); NaN (no interval) when d has no spread or one value."""
    if len(d) < 2 or np.ptp(d) == 0:
        return float("nan"), float("nan")
    half = special.stdtrit(len(d) - 1, 0.5 + confidence / 2) * np.std(d, ddof=1) / np.sqrt(len(d))
    return float(np.mean(d) - half), float(np.mean(d) + half)


def one_sample_t(x, value: float = 0.0, alternative: str = "greater", confidence: float = 0.95) -> TestResult:
    """Student's one-sample t test of mean(x) against `value`.

    A sample without spread has no t statistic and no interval: it gets the exact sign test
    (p = 2^-n on the side its value lies, else 1) and a NaN interval, never a zero-width one.
    """
    x = np.asarray(x, float)
    if np.ptp(x) == 0:
        p = float(degenerate_p(np.asarray(x[0] - value), alternative, len(x)))
        return TestResult(NO_SPREAD, float(x.mean()), float("nan"), float("nan"), p, len(x))
    t = (x.mean() - value) / (np.std(x, ddof=1) / np.sqrt(len(x)))
    low, high = _t_interval(x, confidence)
    return TestResult("one-sample t", float(x.mean()), low, high, _t_test_p(t, len(x) - 1, alternative), len(x),
                      float(t))


def _t_test_p(t: float, df: int, alternative: str) -> float:
    """The p of a t statistic on `df` degrees of freedom, as `ttest_1samp` gives it (to 4e-14 here)."""
    if alternative == "greater":
        return float(t_sf(t, df))
    if alternative == "less":
        return float(t_cdf(t, df))
    return min(1.0, 2 * float(t_sf(abs(t), df)))


# The distributions' tails from scipy.special: what scipy.stats' t and binom give (to 2e-13 here),
# without the 0.1-0.2 ms of argument handling a scipy.stats call costs, which the calibration paid
# tens of thousands of times deciding worlds one at a time through `verdicts.decide_part`.
def t_sf(statistic, df) -> np.ndarray:
    """Student's t upper tail (scipy.stats.t.sf)."""
    return special.stdtr(df, -np.asarray(statistic, float))


def t_cdf(statistic, df) -> np.ndarray:
    """Student's t lower tail (scipy.stats.t.cdf)."""
    return special.stdtr(df, np.asarray(statistic, float))


def binom_sf(k, n, p: float = 0.5) -> np.ndarray:
    """P(X > k), X ~ Binomial(n, p) (scipy.stats.binom.sf); k from -1 (1.0) to n - 1."""
    return special.bdtrc(k, n, p)


def binom_cdf(k, n, p: float = 0.5) -> np.ndarray:
    """P(X <= k), X ~ Binomial(n, p) (scipy.stats.binom.cdf); k from 0 to n (1.0)."""
    return special.bdtr(k, n, p)


def degenerate_p(diff: np.ndarray, alternative: str, n: int) -> np.ndarray:
    """Sign-test p when all n values of a sample are equal (per row: `diff` is the common value
    minus the tested one): 2^-n if all lie on the tested side, else 1."""
    diff = np.asarray(diff, float)
    if alternative == "greater":
        return np.where(diff > 0, 0.5**n, 1.0)
    if alternative == "less":
        return np.where(diff < 0, 0.5**n, 1.0)
    return np.where(diff != 0, min(1.0, 2 * 0.5**n), 1.0)


def paired_t(a, b, alternative: str = "greater", margin: float = 0.0, confidence: float = 0.95) -> TestResult:
    """Paired t test of mean(a - b) against `margin` (same seeds in both arms)."""
    d = np.asarray(a, float) - np.asarray(b, float)
    r = one_sample_t(d, margin, alternative, confidence)
    return TestResult("paired t", r.estimate, r.ci_low, r.ci_high, r.p, r.n, r.statistic)


def welch_t(a, b, alternative: str = "greater", confidence: float = 0.95) -> TestResult:
    """Welch's two-sample t test of mean(a) - mean(b) (unequal variances)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    res = stats.ttest_ind(a, b, equal_var=False, alternative=alternative)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(confidence)
    return TestResult(
        "Welch t", float(a.mean() - b.mean()), float(ci.low), float(ci.high), float(res.pvalue),
        min(len(a), len(b)), float(res.statistic),
    )


def wilcoxon_p(a, b, alternative: str = "greater") -> float:
    """Wilcoxon signed-rank p of a - b (floor 2^-n one-sided: a cross-check, not the decider)."""
    d = np.asarray(a, float) - np.asarray(b, float)
    if np.all(d == 0):
        return 1.0
    # with ties or zeros scipy runs a permutation over 2^n signs (0.3 s a call at 10 seeds); past 6
    # the normal approximation serves a cross-check
    ties = np.any(d == 0) or len(np.unique(np.abs(d))) < len(d)
    method = "asymptotic" if ties and len(d) > 6 else "auto"
    return float(stats.wilcoxon(d, alternative=alternative, method=method).pvalue)


def mann_whitney_p(a, b, alternative: str = "greater") -> float:
    """Mann-Whitney U p of a against b (independent samples)."""
    return float(stats.mannwhitneyu(a, b, alternative=alternative).pvalue)


def permutation_paired_p(a, b, alternative: str = "greater") -> float:
    """Sign-flip permutation p of mean(a - b) (exact for n <= 12)."""
    d = np.asarray(a, float) - np.asarray(b, float)
    res = stats.permutation_test(
        (d,), np.mean, permutation_type="samples", alternative=alternative, n_resamples=4096
    )
    return float(res.pvalue)


SIGN_FLIP_EXACT_MAX_N = 16
SIGN_FLIP_DRAWS = 1 << 16


@functools.lru_cache(maxsize=8)
def _sign_patterns(n: int) -> np.ndarray:
    """(patterns, n) of +-1: all 2^n sign patterns for n <= 16, else 2^16 seeded draws
    (with the identity pattern first, so p is never below 1 / draws)."""
    if n <= SIGN_FLIP_EXACT_MAX_N:
        codes = np.arange(1 << n, dtype=np.uint32)[:, None]
        bits = (codes >> np.arange(n, dtype=np.uint32)) & 1
        return (1 - 2 * bits.astype(np.int8)).astype(np.float32)
    rng = np.random.default_rng(0x51F)
    signs = rng.choice(np.array([-1.0, 1.0], np.float32), size=(SIGN_FLIP_DRAWS, n))
    signs[0] = 1.0
    return signs


def sign_flip_floor(n: int) -> float:
    """The smallest p the sign-flip test can give on n seeds without ties (2^-n; 1/draws past
    the exact range). A look whose level is at or below it cannot decide a discrete part; every
    seed tied at zero raises it further (a flipped zero changes nothing)."""
    return 2.0 ** -n if n <= SIGN_FLIP_EXACT_MAX_N else 1.0 / SIGN_FLIP_DRAWS


def sign_flip_p(x, value: float = 0.0, alternative: str = "greater") -> float:
    """Exact paired sign-flip permutation p of mean(x) against `value` (x: per-seed paired
    differences, one per seed). Under H0 the distribution of x - value is symmetric about
    zero, so every sign pattern is equally likely; p is the share of patterns whose mean is
    at least as extreme as the observed one. Exact for n <= 16 (floor 2^-n), Monte Carlo over
    2^16 seeded patterns beyond. Valid for discrete and bounded metrics, ties included."""
    d = np.asarray(x, float) - value
    signs = _sign_patterns(len(d))
    sums = signs @ d.astype(np.float32)
    observed = float(np.sum(d))
    tol = 1e-6 * max(1.0, float(np.sum(np.abs(d))))
    if alternative == "greater":
        return float(np.mean(sums >= observed - tol))
    if alternative == "less":
        return float(np.mean(sums <= observed + tol))
    return float(np.mean(np.abs(sums) >= abs(observed) - tol))


def sign_flip_interval(x, confidence: float = 0.95) -> tuple[float, float]:
    """The interval of mean(x) obtained by inverting the two one-sided sign-flip tests, each at
    (1 - confidence) / 2: every shift not rejected lies inside. NaN without spread."""
    d = np.asarray(x, float)
    if len(d) < 2 or np.ptp(d) == 0:
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2
    signs = _sign_patterns(len(d))
    s1, s2 = signs @ d.astype(np.float32), signs.sum(axis=1)

    def p_greater(mu: float) -> float:  # H0: mean <= mu
        observed = float(np.sum(d) - mu * len(d))
        return float(np.mean(s1 - mu * s2 >= observed - 1e-6 * max(1.0, float(np.abs(d - mu).sum()))))

    def p_less(mu: float) -> float:  # H0: mean >= mu
        observed = float(np.sum(d) - mu * len(d))
        return float(np.mean(s1 - mu * s2 <= observed + 1e-6 * max(1.0, float(np.abs(d - mu).sum()))))

    lo_bound, hi_bound = float(d.min()), float(d.max())
    if p_greater(lo_bound) >= tail or p_less(hi_bound) >= tail:  # too few seeds to exclude anything
        return lo_bound, hi_bound
    low = _bisect(lambda mu: p_greater(mu) >= tail, lo_bound, float(d.mean()))
    high = _bisect(lambda mu: p_less(mu) < tail, float(d.mean()), hi_bound)
    return low, high


def _bisect(inside, low: float, high: float, steps: int = 40) -> float:
    """The boundary between `inside` false (at low) and true (at high), or the reverse."""
    flip = inside(low)
    for _ in range(steps):
        mid = (low + high) / 2
        if inside(mid) == flip:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def sign_flip_test(x, value: float = 0.0, alternative: str = "greater", confidence: float = 0.95,
                   interval: bool = True) -> TestResult:
    """The sign-flip permutation test of mean(x) against `value`, with its inverted interval
    (skipped, NaN, without `interval`: simulations need only the p)."""
    x = np.asarray(x, float)
    low, high = sign_flip_interval(x, confidence) if interval else (float("nan"), float("nan"))
    name = "sign-flip permutation" if len(x) <= SIGN_FLIP_EXACT_MAX_N else "sign-flip permutation (Monte Carlo)"
    return TestResult(name, float(x.mean()), low, high, sign_flip_p(x, value, alternative), len(x))


def order_statistic_rank(n: int, tail: float) -> int:
    """The largest k (1-based; 0 when none) with P(Binom(n, 1/2) <= k - 1) <= tail: the k-th
    smallest of n values lies below the median with probability at least 1 - tail."""
    k = int(stats.binom.ppf(tail, n, 0.5))
    while k > 0 and stats.binom.cdf(k - 1, n, 0.5) > tail:
        k -= 1
    return k


def median_interval(x, confidence: float = 0.95) -> tuple[float, float]:
    """The distribution-free interval of the median from order statistics: [x_(k), x_(n+1-k)]
    with the largest k whose two-sided binomial coverage is at least `confidence` (the interval
    the sign test inverts). Too few seeds for that coverage: the range of x. A sample without
    spread gets no interval (NaN), never a zero-width one."""
    d = np.sort(np.asarray(x, float))
    n = len(d)
    if n < 2 or d[0] == d[-1]:
        return float("nan"), float("nan")
    k = order_statistic_rank(n, (1 - confidence) / 2)
    if k < 1:
        return float(d[0]), float(d[-1])
    return float(d[k - 1]), float(d[n - k])


def tost_one_sample(x, value: float, margin: float, confidence: float = 0.95) -> TestResult:
    """Two one-sided tests that mean(x) lies within value +/- margin (equivalence).

    p is the larger of the two one-sided p-values; small p supports equivalence.
    """
    x = np.asarray(x, float)
    lower = one_sample_t(x, value - margin, "greater", confidence)
    upper = one_sample_t(x, value + margin, "less", confidence)
    return TestResult(
        "TOST", lower.estimate, lower.ci_low, lower.ci_high, max(lower.p, upper.p), len(x)
    )


def pitman_morgan_statistic(a, b, ratio: float, robust: bool = False) -> np.ndarray:
    """Per row (seeds on the last axis), the statistic that is zero iff sd(a) = ratio * sd(b):
    u = a + ratio b and v = a - ratio b are uncorrelated then. Classic: Pearson's t of corr(u, v)
    (df n - 2; 0 when u or v is constant). `robust`: the mean of the centred products u v over
    its own standard error (df n - 1), valid for any finite fourth moment as n grows."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    n = a.shape[-1]
    u, v = a + ratio * b, a - ratio * b
    u = u - u.mean(axis=-1, keepdims=True)
    v = v - v.mean(axis=-1, keepdims=True)
    w = u * v
    if robust:
        sd = w.std(axis=-1, ddof=1)
        return np.where(sd > 0, np.sqrt(n) * w.mean(axis=-1) / np.where(sd > 0, sd, 1.0), 0.0)
    su, sv = np.sqrt((u * u).sum(axis=-1)), np.sqrt((v * v).sum(axis=-1))
    ok = (su > 0) & (sv > 0)
    r = np.clip(np.where(ok, w.sum(axis=-1) / np.where(ok, su * sv, 1.0), 0.0), -1 + 1e-15, 1 - 1e-15)
    return r * np.sqrt(n - 2) / np.sqrt(1 - r * r)


def pitman_morgan(a, b, alternative: str = "less", confidence: float = 0.95, ratio: float = 1.0) -> TestResult:
    """Pitman-Morgan test that paired `a` varies less (or more) than `ratio` times `b` over the
    same seeds (ratio 1: than `b` itself).

    For paired normal samples var(a) = var(b) iff a + b and a - b are uncorrelated; the test is
    Pearson's t on that correlation (df n - 2), valid whatever the correlation of the arms,
    which the F test is not. Estimate: sd(a)/sd(b), with the exact interval from inverting the
    test for every ratio k (corr(a + k b, a - k b) = 0 iff sd(a) = k sd(b))."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    n = len(a)
    estimate = float(np.std(a, ddof=1) / np.std(b, ddof=1))
    t = float(pitman_morgan_statistic(a, b, ratio))
    p = t_cdf(t, n - 2) if alternative == "less" else t_sf(t, n - 2)
    crit = stats.t.ppf(1 - (1 - confidence) / 2, n - 2)
    log_est = np.log(estimate)

    def solve(target: float, lo: float, hi: float) -> float:
        f = lambda logk: float(pitman_morgan_statistic(a, b, float(np.exp(logk)))) - target  # noqa: E731
        if f(lo) * f(hi) > 0:
            return float(np.exp(lo if abs(f(lo)) < abs(f(hi)) else hi))
        return float(np.exp(optimize.brentq(f, lo, hi, xtol=1e-10)))

    low = solve(crit, log_est - 20, log_est)
    high = solve(-crit, log_est, log_est + 20)
    return TestResult("Pitman-Morgan", estimate, low, high, float(p), n, float(t))


def bootstrap_log_sd_ratio_p(a, b, resamples: int = 4000, seed: int = 0) -> float:
    """Paired bootstrap share of resamples (seeds drawn with replacement, both arms together)
    in which sd(a) >= sd(b): a robust cross-check of `pitman_morgan(..., "less")`."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    idx = np.random.default_rng(seed).integers(0, len(a), size=(resamples, len(a)))
    sa, sb = np.std(a[idx], axis=1, ddof=1), np.std(b[idx], axis=1, ddof=1)
    return float((np.sum(sa >= sb) + 1) / (resamples + 1))


def iqm(x) -> float:
    """Interquartile mean: the mean of the middle 50% (rliable's robust aggregate)."""
    return float(stats.trim_mean(np.asarray(x, float), 0.25))


def cohens_d_paired(a, b) -> float:
    """Standardised paired effect: mean(a - b) / sd(a - b) (inf when the sd is zero)."""
    d = np.asarray(a, float) - np.asarray(b, float)
    sd = np.std(d, ddof=1)
    return float(np.mean(d) / sd) if sd > 0 else float(np.sign(np.mean(d)) * np.inf)


def prob_improvement(a, b) -> float:
    """P(A > B) over all pairs of runs, ties counting one half (rliable's definition)."""
    a, b = np.asarray(a, float)[:, None], np.asarray(b, float)[None, :]
    return float(np.mean((a > b) + 0.5 * (a == b)))


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    p = np.asarray(pvalues, float)
    m = len(p)
    order = np.argsort(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        adjusted[i] = min(1.0, running)
    return adjusted


def power_paired_t(effect_size: float, n: int, alpha: float = 0.01) -> float:
    """Power of a one-sided paired (or one-sample) t test: noncentral t with nc = d sqrt(n)."""
    df = n - 1
    critical = stats.t.ppf(1 - alpha, df)
    return float(stats.nct.sf(critical, df, effect_size * np.sqrt(n)))


def seeds_for_power(effect_size: float, alpha: float = 0.01, power: float = 0.95, max_n: int = 200) -> int:
    """Smallest number of seeds at which the one-sided paired t test reaches `power`."""
    for n in range(2, max_n + 1):
        if power_paired_t(effect_size, n, alpha) >= power:
            return n
    return max_n


def distinct_looks(counts) -> tuple[int, ...]:
    """Seed counts as a design's looks: whole numbers, increasing, a repeated count one look
    ((10, 10) is (10,)); the one rule for plans, `--seeds` and designs."""
    return tuple(sorted({int(n) for n in counts}))


@dataclass(frozen=True)
class SequentialDesign:
    """A pre-planned group-sequential design over seeds: look after each count in `looks`
    (increasing), at that look's level, and stop at the first look that decides.

    Alpha spending (a Bonferroni split, so the chance of a false pass stays at or below alpha
    whatever the dependence between the looks): the first look spends `first_look_share` of
    alpha (0.3: with a family of 15 claims at 0.05, 0.001, which an exact sign test of 10 seeds
    can reach, 2^-10 = 0.00098); the later looks share the rest in proportion to the seeds each
    adds. Two looks are the split (0.3, 0.7) of the earlier two-stage designs; one look gets the
    whole alpha. Exact Pocock or O'Brien-Fleming bounds for these tests at n <= 20 are not
    tabulated, and the split costs little power at the effect sizes of this chapter.
    """

    looks: tuple[int, ...]
    alpha: float
    first_look_share: float = 0.3

    def __post_init__(self) -> None:
        looks = tuple(int(n) for n in self.looks)
        if not looks or looks[0] < 1 or any(b <= a for a, b in zip(looks, looks[1:])):
            raise ValueError(f"a design's looks must be increasing seed counts >= 1, not {self.looks}")
        object.__setattr__(self, "looks", looks)

    @classmethod
    def of(cls, looks, alpha: float) -> SequentialDesign:
        """A design from seed counts in any order, repeats dropped ((10, 10) is one look)."""
        return cls(distinct_looks(looks), alpha)

    @property
    def first_look(self) -> int:
        return self.looks[0]

    @property
    def last_look(self) -> int:
        """The most seeds the design can take."""
        return self.looks[-1]

    def level(self, n: int) -> float:
        """The level to test at the look after `n` seeds (one of `looks`)."""
        if n not in self.looks:
            raise ValueError(f"{n} seeds is not a look of {self.looks}")
        if len(self.looks) == 1:
            return self.alpha
        k = self.looks.index(n)
        if k == 0:
            return self.alpha * self.first_look_share
        added = self.looks[k] - self.looks[k - 1]
        return self.alpha * (1 - self.first_look_share) * added / (self.last_look - self.first_look)
