"""The claim registry: each chapter-5 claim as hypotheses over seeds, with its verdict rule.

A claim has one or more parts; each part is one stated test on one metric (per seed) of one
or two experiments, paired by seed. A claim passes when every part passes (an
intersection-union test: its p-value is the largest of its parts'), fails when any part's
interval excludes what the book implies, and is inconclusive otherwise.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from fml_bench import stats
from fml_bench.errors import UnknownNameError
from fml_bench.metrics import (
    Metric,
    best,
    epoch_of_min,
    extra,
    jaggedness,
    last,
    late_mean,
    late_slope,
    rise_after_min,
)
from fml_bench.records import HISTORY_KEYS, RunRecord

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


@dataclass(frozen=True)
class Part:
    """One hypothesis.

    kind "compare": metric_a(a) - metric_b(b) (paired by seed), or metric(a) - value when b
    is None, exceeds `margin` in `direction` ("greater": above; "less": below). The
    oriented effect is direction * (difference) - margin; the part fails when the upper end of
    its interval lies below `minimum_effect`.
    kind "equivalent": mean of metric(a) (minus b's, if given) lies within value +/- margin
    (TOST); fails when the interval lies wholly outside that band.
    kind "less-spread": metric(a) varies less over seeds than metric(b) (F test);
    estimate is sd(a)/sd(b); fails when the ratio's interval lies wholly above 1.
    """

    says: str
    metric: Metric
    a: str
    b: str | None = None
    kind: str = "compare"
    direction: str = "greater"
    value: float = 0.0
    margin: float = 0.0
    minimum_effect: float = 0.0
    metric_b: Metric | None = None

    def experiments(self) -> list[str]:
        return [self.a] + ([self.b] if self.b else [])


@dataclass(frozen=True)
class PartResult:
    says: str
    test: str
    metric: str
    a: str
    b: str | None
    values_a: list[float]
    values_b: list[float] | None
    estimate: float
    ci_low: float
    ci_high: float
    p: float
    verdict: str
    effect_size: float = float("nan")
    prob_improvement: float = float("nan")
    cross_check_p: float = float("nan")


@dataclass(frozen=True)
class Claim:
    """A chapter-5 claim. `seeds[tier]` = (n1, n2) of its two-stage design;
    `overrides[tier]` = {part index: {field: value}} for thresholds measured per tier;
    `known_divergence[tier]` = the measured reason the claim does not hold there."""

    id: str
    section: str
    statement: str
    book_says: str
    parts: tuple[Part, ...]
    seeds: dict[str, tuple[int, int]] = field(default_factory=lambda: {"fast": (5, 10), "book": (5, 10)})
    overrides: dict[str, dict[int, dict]] = field(default_factory=dict)
    known_divergence: dict[str, str] = field(default_factory=dict)

    def parts_for(self, tier: str) -> tuple[Part, ...]:
        changes = self.overrides.get(tier, {})
        return tuple(dataclasses.replace(p, **changes.get(i, {})) for i, p in enumerate(self.parts))

    def experiments(self) -> list[str]:
        names: list[str] = []
        for part in self.parts:
            for name in part.experiments():
                if name not in names:
                    names.append(name)
        return names


@dataclass(frozen=True)
class ClaimResult:
    claim_id: str
    section: str
    statement: str
    book_says: str
    tier: str
    engine: str
    parts: tuple[PartResult, ...]
    verdict: str
    p: float
    level: float
    seeds: int
    wall_seconds: float = 0.0
    p_adjusted: float = float("nan")
    known_divergence: str = ""
    curves: dict[str, dict[str, list[list[float]]]] = field(default_factory=dict)
    datasets: tuple[str, ...] = ()

    def message(self) -> str:
        """The finding in one paragraph, as a report would state it."""
        lines = [f"{self.claim_id}: {self.verdict.upper()} over {self.seeds} seeds (p={self.p:.2g}, "
                 f"level {self.level:.2g}); the book says {self.book_says}"]
        lines += [f"  - [{p.verdict}] {describe_part(p)}" for p in self.parts]
        return "\n".join(lines)


def describe_part(p: PartResult) -> str:
    """'<says>: <metric> a vs b: difference d [lo, hi], p=..' in words."""
    mean_a = float(np.mean(p.values_a))
    if p.test == "F test":
        sd_b = float(np.std(p.values_b, ddof=1))
        return (f"{p.says}: {p.metric} sd {np.std(p.values_a, ddof=1):.4g} ({p.a}) vs {sd_b:.4g} ({p.b}): "
                f"ratio {p.estimate:.3g} [{p.ci_low:.3g}, {p.ci_high:.3g}], p={p.p:.2g}")
    if p.values_b is not None:
        return (f"{p.says}: {p.metric} {mean_a:.4g} ({p.a}) vs {np.mean(p.values_b):.4g} ({p.b}): "
                f"difference {p.estimate:+.4g} [{p.ci_low:+.4g}, {p.ci_high:+.4g}], p={p.p:.2g}")
    return f"{p.says}: {p.metric} of {p.a} {mean_a:.4g} [{p.ci_low:.4g}, {p.ci_high:.4g}], p={p.p:.2g}"


def evaluate_part(part: Part, runs: dict[str, list[RunRecord]], level: float) -> PartResult:
    """Test one part on the stored runs (records of both arms in the same seed order)."""
    a = np.array([part.metric(r) for r in runs[part.a]])
    b = None
    if part.b is not None:
        b = np.array([(part.metric_b or part.metric)(r) for r in runs[part.b]])
        if [r.seed for r in runs[part.a]] != [r.seed for r in runs[part.b]]:
            raise ValueError(f"arms {part.a} and {part.b} are not paired by seed")
    common = dict(says=part.says, metric=part.metric.name, a=part.a, b=part.b, values_a=a.tolist(),
                  values_b=None if b is None else b.tolist())
    if part.kind == "less-spread":
        res = stats.spread_test(a, b, "less")
        verdict = PASS if res.p < level else FAIL if res.ci_low > 1 else INCONCLUSIVE
        return PartResult(test=res.test, estimate=res.estimate, ci_low=res.ci_low, ci_high=res.ci_high,
                          p=res.p, verdict=verdict, cross_check_p=stats.brown_forsythe_p(a, b), **common)
    diff = a - b if b is not None else a
    if part.kind == "equivalent":
        res = stats.tost_one_sample(diff, part.value, part.margin)
        outside = res.ci_low > part.value + part.margin or res.ci_high < part.value - part.margin
        verdict = PASS if res.p < level else FAIL if outside else INCONCLUSIVE
        return PartResult(test=res.test, estimate=res.estimate, ci_low=res.ci_low, ci_high=res.ci_high,
                          p=res.p, verdict=verdict, **common)
    sign = 1.0 if part.direction == "greater" else -1.0
    oriented = sign * (diff - part.value) - part.margin
    decision = stats.one_sample_t(oriented, 0.0, "greater")
    shown = stats.one_sample_t(diff, part.value, part.direction)
    upper = max(sign * (shown.ci_low - part.value), sign * (shown.ci_high - part.value)) - part.margin
    verdict = PASS if decision.p < level else FAIL if upper < part.minimum_effect else INCONCLUSIVE
    test = ("paired t" if b is not None else "one-sample t") + f" ({part.direction})"
    return PartResult(
        test=test, estimate=shown.estimate,
        ci_low=shown.ci_low, ci_high=shown.ci_high, p=decision.p, verdict=verdict,
        effect_size=stats.cohens_d_paired(diff, np.full_like(diff, part.value)) * sign,
        prob_improvement=stats.prob_improvement(sign * a, sign * b) if b is not None else float("nan"),
        cross_check_p=stats.wilcoxon_p(oriented, np.zeros_like(oriented)) if len(a) > 1 else float("nan"),
        **common,
    )


def combine(parts: list[PartResult]) -> tuple[str, float]:
    """Intersection-union: pass iff all parts pass; fail if any fails; p = max part p."""
    verdicts = {p.verdict for p in parts}
    verdict = FAIL if FAIL in verdicts else PASS if verdicts == {PASS} else INCONCLUSIVE
    return verdict, max(p.p for p in parts)


def evaluate(claim: Claim, tier: str, runs: dict[str, list[RunRecord]], level: float,
             engine: str = "reference", wall_seconds: float = 0.0, datasets: tuple[str, ...] = ()) -> ClaimResult:
    """The claim's verdict at `level` on `runs` (experiment name -> records by seed)."""
    parts = [evaluate_part(p, runs, level) for p in claim.parts_for(tier)]
    verdict, p = combine(parts)
    return ClaimResult(
        claim_id=claim.id, section=claim.section, statement=claim.statement, book_says=claim.book_says,
        tier=tier, engine=engine, parts=tuple(parts), verdict=verdict, p=p, level=level,
        seeds=len(next(iter(runs.values()))), wall_seconds=wall_seconds,
        known_divergence=claim.known_divergence.get(tier, ""),
        curves={name: {k: [r.history[k] for r in records] for k in HISTORY_KEYS} for name, records in runs.items()},
        datasets=datasets,
    )


VAL_ACC = "val_accuracy"
CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="noise-channels",
        section="5.1.1 (Listings 5.1-5.3)",
        statement="Uninformative noise features hurt generalization: the same model reaches a lower "
                  "validation accuracy on MNIST with 784 noise channels than with 784 zero channels.",
        book_says="noise channels cost about one point of validation accuracy",
        parts=(Part("zero channels beat noise channels", best(VAL_ACC), "mnist-zero-channels",
                    "mnist-noise-channels", minimum_effect=0.003),),
    ),
    Claim(
        id="random-labels",
        section="5.1.2 (Listing 5.4)",
        statement="A model can memorise randomly shuffled labels: training accuracy climbs far above "
                  "chance while validation accuracy stays at chance.",
        book_says="training loss keeps falling on shuffled labels while validation stays at chance (10%)",
        parts=(
            Part("training accuracy far above chance (> 0.5)", last("accuracy"), "mnist-shuffled-labels",
                 value=0.5),
            Part("validation accuracy within 0.1 +/- 0.03", last(VAL_ACC), "mnist-shuffled-labels",
                 kind="equivalent", value=0.1, margin=0.03),
        ),
    ),
    Claim(
        id="lr-too-high",
        section="5.3.1 (Listings 5.7-5.8)",
        statement="With RMSprop(1.0) the MNIST model stalls far below what RMSprop(1e-2) reaches.",
        book_says="RMSprop(1.0) gets stuck around 30-40% validation accuracy; RMSprop(1e-2) trains normally",
        parts=(
            Part("RMSprop(1.0) stalls below 0.6", last(VAL_ACC), "mnist-rmsprop-lr1", direction="less",
                 value=0.6),
            Part("RMSprop(1e-2) beats RMSprop(1.0) by more than 0.3", last(VAL_ACC), "mnist-rmsprop-lr1e-2",
                 "mnist-rmsprop-lr1", margin=0.3),
        ),
    ),
    Claim(
        id="underfit-logreg",
        section="5.3.3 (Listing 5.9)",
        statement="Logistic regression on MNIST underfits: its validation loss keeps falling or "
                  "plateaus and shows no overfitting minimum within 20 epochs.",
        book_says="the validation metrics of the logistic regression stall; it cannot overfit",
        parts=(Part("late val_loss slope below +0.002 per epoch (no rise)", late_slope(), "mnist-logreg",
                    direction="less", value=0.002),),
    ),
    Claim(
        id="overfit-capacity",
        section="5.3.3",
        statement="The 96-96 MLP reaches a lower validation loss than logistic regression, then "
                  "overfits: its minimum comes well before epoch 20 and validation loss rises after it.",
        book_says="with more capacity the model fits fast and starts overfitting after about 8 epochs",
        parts=(
            Part("96-96 beats logistic regression at its best", best("val_loss"), "mnist-96-96",
                 "mnist-logreg", direction="less"),
            Part("96-96 val_loss rises by more than 0.01 after its minimum", rise_after_min(), "mnist-96-96",
                 value=0.01),
            Part("96-96 val_loss minimum before epoch 16", epoch_of_min(), "mnist-96-96", direction="less",
                 value=16),
        ),
    ),
    Claim(
        id="imdb-smaller",
        section="5.4.4 (Listing 5.11)",
        statement="The smaller 4-4-1 IMDB model starts overfitting later than the 16-16-1 model and "
                  "its validation loss degrades more slowly.",
        book_says="the smaller model starts overfitting later and its performance degrades more slowly",
        parts=(
            Part("4-4 reaches its minimum later", epoch_of_min(), "imdb-4-4", "imdb-16-16"),
            Part("4-4 val_loss rises less after its minimum", rise_after_min(), "imdb-4-4", "imdb-16-16",
                 direction="less"),
        ),
    ),
    Claim(
        id="imdb-larger",
        section="5.4.4 (Listing 5.12)",
        statement="The 512-512-1 IMDB model overfits almost at once and more severely, with a noisier "
                  "validation loss, while its training loss nears zero.",
        book_says="the bigger model starts overfitting almost immediately, its validation loss is "
                  "noisier, and its training loss gets near zero",
        parts=(
            Part("512 val_loss rises more after its minimum", rise_after_min(), "imdb-512-512", "imdb-16-16"),
            Part("512 val_loss is more jagged", jaggedness(log=True), "imdb-512-512", "imdb-16-16"),
            Part("512 last training loss below 0.01", last("loss"), "imdb-512-512", direction="less",
                 value=0.01),
            Part("512 reaches its minimum no later than 16-16", epoch_of_min(), "imdb-512-512", "imdb-16-16",
                 direction="less", margin=-0.5),
        ),
        seeds={"fast": (10, 20), "book": (5, 10)},
    ),
    Claim(
        id="imdb-l2",
        section="5.4.4 (Listing 5.13)",
        statement="L2(0.002) weight regularization gives a lower late-training validation loss and "
                  "less overfitting than the unregularized 16-16-1 model.",
        book_says="the L2-regularized model is much more resistant to overfitting",
        parts=(
            Part("L2 lowers late val_loss", late_mean("val_loss"), "imdb-16-16-l2", "imdb-16-16",
                 direction="less"),
            Part("L2 val_loss rises less after its minimum", rise_after_min(), "imdb-16-16-l2", "imdb-16-16",
                 direction="less"),
        ),
    ),
    Claim(
        id="imdb-dropout",
        section="5.4.4 (Listing 5.15)",
        statement="Dropout(0.5) gives a lower late-training validation loss than the reference model, "
                  "and a lower best validation loss than L2 regularization.",
        book_says="dropout is a clear improvement over the reference model, and better than L2",
        parts=(
            Part("dropout lowers late val_loss", late_mean("val_loss"), "imdb-16-16-dropout", "imdb-16-16",
                 direction="less"),
            Part("dropout's best val_loss is below L2's", best("val_loss"), "imdb-16-16-dropout",
                 "imdb-16-16-l2", direction="less"),
        ),
    ),
    Claim(
        id="imdb-l1",
        section="5.4.4 (Listing 5.14)",
        statement="The l1(0.001) and l1_l2(0.001, 0.001) regularizers, like L2, lower the late-training "
                  "validation loss of the 16-16-1 model.",
        book_says="l1 and l1_l2 are the other weight regularizers keras offers (listing 5.14)",
        parts=(
            Part("l1 lowers late val_loss", late_mean("val_loss"), "imdb-16-16-l1", "imdb-16-16",
                 direction="less"),
            Part("l1_l2 lowers late val_loss", late_mean("val_loss"), "imdb-16-16-l1-l2", "imdb-16-16",
                 direction="less"),
        ),
    ),
    Claim(
        id="label-noise",
        section="5.1.1",
        statement="More mislabelled training examples give lower validation accuracy, monotonically "
                  "(0% > 20% > 40% of labels corrupted).",
        book_says="noisy training data (mislabelled examples) makes models fit noise and generalize worse",
        parts=(
            Part("0% noise beats 20%", late_mean(VAL_ACC, 3), "mnist-label-noise-0", "mnist-label-noise-20"),
            Part("20% noise beats 40%", late_mean(VAL_ACC, 3), "mnist-label-noise-20", "mnist-label-noise-40"),
        ),
    ),
    Claim(
        id="more-data",
        section="5.4.1",
        statement="More training data gives better validation accuracy (20%, 50%, 100% of the training "
                  "rows, one fixed validation set).",
        book_says="getting more data is the best way to make a model generalize better",
        parts=(
            Part("all the training rows beat half of them", best(VAL_ACC), "mnist-train-100pct",
                 "mnist-train-50pct"),
            Part("half the training rows beat a fifth of them", best(VAL_ACC), "mnist-train-50pct",
                 "mnist-train-20pct"),
        ),
    ),
    Claim(
        id="early-stopping",
        section="5.4.3",
        statement="Early stopping with restore_best_weights ends at a lower validation loss than "
                  "training the overfitting 16-16-1 IMDB model to its last epoch.",
        book_says="interrupt training as soon as validation metrics stop improving, keeping the best model",
        parts=(Part("restored val_loss below the last-epoch val_loss", extra("restored_val_loss", "val_loss"),
                    "imdb-16-16-early-stopping", "imdb-16-16", direction="less", metric_b=last("val_loss")),),
    ),
    Claim(
        id="common-sense-baseline",
        section="5.2.2",
        statement="Every trained model beats the common-sense baseline (the majority class of the "
                  "validation set), and the shuffled-labels model does not.",
        book_says="a model is useful only if it beats a common-sense baseline such as the majority class",
        parts=tuple(
            Part(f"{name} beats the majority class by more than 0.05", last(VAL_ACC), name,
                 metric_b=extra("majority_baseline"), b=name, margin=0.05)
            for name in ("mnist-zero-channels", "mnist-logreg", "mnist-96-96", "imdb-16-16", "imdb-4-4")
        ) + (Part("the shuffled-labels model does not beat the baseline by 0.02", last(VAL_ACC),
                  "mnist-shuffled-labels", "mnist-shuffled-labels", direction="less", value=0.02,
                  metric_b=extra("majority_baseline")),),
    ),
    Claim(
        id="kfold-variance",
        section="5.2.1 (Listings 5.5-5.6)",
        statement="On a small dataset K-fold validation gives a lower-variance estimate than a single "
                  "hold-out split.",
        book_says="with little data, a hold-out estimate varies a lot with the split; use K-fold",
        parts=(Part("4-fold estimate varies less than hold-out", extra("estimate_val_accuracy"), "kfold-4",
                    "kfold-holdout", kind="less-spread"),),
        seeds={"fast": (8, 16), "book": (8, 16)},
    ),
    Claim(
        id="iterated-kfold-variance",
        section="5.2.1",
        statement="Iterated K-fold validation with shuffling gives a lower-variance estimate than "
                  "plain K-fold.",
        book_says="iterated K-fold with shuffling is for when you need to evaluate as precisely as possible",
        parts=(Part("iterated 3x4-fold estimate varies less than 4-fold", extra("estimate_val_accuracy"),
                    "kfold-iterated-3x4", "kfold-4", kind="less-spread"),),
        seeds={"fast": (16, 32), "book": (16, 32)},
    ),
)
CLAIMS_BY_ID = {c.id: c for c in CLAIMS}


def get_claim(claim_id: str) -> Claim:
    try:
        return CLAIMS_BY_ID[claim_id]
    except KeyError:
        raise UnknownNameError(
            f"unknown claim {claim_id!r}; known claims: {', '.join(CLAIMS_BY_ID)}"
        ) from None
