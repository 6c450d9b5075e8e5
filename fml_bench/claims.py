"""The claim registry: each chapter-5 claim as typed hypotheses over seeds, grouped by book
section, each with the knock-out that removes its mechanism.

A claim's parts are built with `hypotheses.greater / less / within / less_spread`; every part
carries its smallest effect of interest (SESOI) per tier and where that number comes from.
`FAMILY_SIZE` is the number of confirmatory claims the run's alpha is divided among; a
measurement (`kind="measurement"`) is reported beside the claims, outside that family.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fml_bench.errors import UnknownNameError
from fml_bench.experiments import ExperimentSpec
from fml_bench.hypotheses import EVERY_TIER, Part, Sesoi, greater, less, less_spread, within
from fml_bench.metrics import (
    best,
    best_penalty_free,
    epoch_of_min,
    extra,
    jaggedness,
    last,
    late_mean,
    late_slope,
    log10_last,
    rise_after_min,
)
from fml_bench.protocol import ESTIMATE_VAL_ACCURACY, MAJORITY_BASELINE, TEST_LOSS
from fml_bench.records import RunRecord
from fml_bench.report.claim_results import MEASURED, PartResult
from fml_bench.verdicts import combine, decide_part, fail_level, part_values, same_runs

CLAIM, MEASUREMENT = "claim", "measurement"


@dataclass(frozen=True)
class Knockout:
    """The claim's mechanism removed, everything else kept: spec field changes per experiment.
    Checking the claim with its knock-out must give *fail*."""

    says: str
    changes: Mapping[str, Mapping[str, object]]

    def apply(self, spec: ExperimentSpec) -> ExperimentSpec:
        changes = self.changes.get(spec.name)
        return spec.with_(**changes) if changes else spec


@dataclass(frozen=True)
class Claim:
    """A chapter-5 claim (or, with kind "measurement", a reported measurement)."""

    id: str
    section: str
    statement: str
    book_says: str
    parts: tuple[Part, ...]
    knockout: Knockout | None
    kind: str = CLAIM
    known_divergence: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in (CLAIM, MEASUREMENT):
            raise ValueError(f"claim {self.id!r}: kind must be {CLAIM!r} or {MEASUREMENT!r}, got {self.kind!r}")
        if self.kind == CLAIM and self.knockout is None:
            raise ValueError(f"claim {self.id!r}: a claim needs a knock-out that shows it can fail")
        ids = [p.id for p in self.parts]
        if len(set(ids)) != len(ids):
            raise ValueError(f"claim {self.id!r}: part ids repeat: {ids}")
        if self.knockout is not None:
            unknown = set(self.knockout.changes) - set(self.experiments())
            if unknown:
                raise ValueError(f"claim {self.id!r}: knock-out changes experiments it does not use: {unknown}")

    def experiments(self) -> list[str]:
        names: list[str] = []
        for part in self.parts:
            for name in part.experiments():
                if name not in names:
                    names.append(name)
        return names

    def decide(self, tier: str, runs: dict[str, list[RunRecord]], level: float) -> tuple[tuple[PartResult, ...],
                                                                                     str, float]:
        """Each part's result, the claim's verdict and its p at `level` on `runs` (experiment name
        -> records in seed order); a measurement is reported, never decided."""
        fail_at = fail_level(level, len(self.parts))
        parts = tuple(decide_part(p, *part_values(p, runs), tier, level, same_runs=same_runs(p, runs),
                                  fail_at=fail_at) for p in self.parts)
        verdict, p = combine(list(parts))
        return parts, (MEASURED if self.kind == MEASUREMENT else verdict), p


def book(value: float, source: str) -> dict[str, Sesoi]:
    """A SESOI from the book, the same at every tier."""
    return {EVERY_TIER: Sesoi(value, f"book: {source}")}


def per_tier(fast: tuple[float, str], book: tuple[float, str]) -> dict[str, Sesoi]:
    return {"fast": Sesoi(*fast), "book": Sesoi(*book)}


VAL_ACC = "val_accuracy"
PILOT = "half the effect measured on pilot seeds 1000-1009"
BOOK_PILOT = "no book figure; half the effect measured on book-tier pilot seeds 1000-1009 (stacked engine)"

# Section 5.1: generalization, the goal of machine learning ---------------------------------
SECTION_5_1 = (
    Claim(
        id="noise-channels",
        section="5.1.1 (Listings 5.1-5.3)",
        statement="Uninformative noise features hurt generalization: the same model reaches a lower "
                  "validation accuracy on MNIST with 784 noise channels than with 784 zero channels.",
        book_says="noise channels cost about one point of validation accuracy",
        parts=(greater("zero-beats-noise", "zero channels beat noise channels", best(VAL_ACC),
                       "mnist-zero-channels", "mnist-noise-channels",
                       sesoi=book(0.005, "'about one percentage point' (2nd ed. 5.1.1), half of it")),),
        knockout=Knockout("noise channels replaced by zeros", {"mnist-noise-channels": {"recipe": "zero-channels"}}),
    ),
    Claim(
        id="label-noise",
        section="5.1.1",
        statement="More mislabelled training examples give lower validation accuracy, monotonically "
                  "(0% > 20% > 40% of labels corrupted).",
        book_says="noisy training data (mislabelled examples) makes models fit noise and generalize worse",
        parts=(
            greater("0-beats-20", "0% noise beats 20%", late_mean(VAL_ACC, 3), "mnist-label-noise-0",
                    "mnist-label-noise-20", sesoi=per_tier((0.028, f"fast tier, {PILOT}"),
                                                           (0.0075, f"{BOOK_PILOT}: +0.0150"))),
            greater("20-beats-40", "20% noise beats 40%", late_mean(VAL_ACC, 3), "mnist-label-noise-20",
                    "mnist-label-noise-40", sesoi=per_tier((0.042, f"fast tier, {PILOT}"),
                                                           (0.0106, f"{BOOK_PILOT}: +0.0212"))),
        ),
        knockout=Knockout("no label is corrupted", {"mnist-label-noise-20": {"label_noise": 0.0},
                                                     "mnist-label-noise-40": {"label_noise": 0.0}}),
    ),
    Claim(
        id="random-labels",
        section="5.1.2 (Listing 5.4)",
        statement="A model can memorise randomly shuffled labels: training accuracy climbs far above "
                  "chance while validation accuracy stays at chance.",
        book_says="training loss keeps falling on shuffled labels while validation stays at chance (10%)",
        parts=(
            greater("memorises", "training accuracy far above chance (> 0.5)", last("accuracy"),
                    "mnist-shuffled-labels", than=0.5,
                    sesoi=book(0.1, "training accuracy reaches 1.0 by epoch 100; 0.6 is far above chance")),
            within("val-at-chance", "validation accuracy stays within 0.1 +/- 0.03", last(VAL_ACC),
                   "mnist-shuffled-labels", center=0.1, half_width=0.03,
                   source="book: stuck at 10% (3rd ed.), +/- 3 points"),
        ),
        knockout=Knockout("labels left unshuffled", {"mnist-shuffled-labels": {"recipe": "plain"}}),
    ),
)

# Section 5.2: evaluating machine-learning models -------------------------------------------
SECTION_5_2 = (
    Claim(
        id="kfold-variance",
        section="5.2.1 (Listings 5.5-5.6)",
        statement="On a small dataset K-fold validation gives a lower-variance estimate than a single "
                  "hold-out split.",
        book_says="with little data, a hold-out estimate varies a lot with the split; use K-fold",
        parts=(less_spread("4-fold-less-spread", "4-fold estimate varies less than hold-out",
                           extra(ESTIMATE_VAL_ACCURACY), "kfold-4", "kfold-holdout",
                           sesoi=book(0.35, "no figure; averaging 4 folds would halve the sd if folds were "
                                            "independent (log 2 = 0.69), half of that")),),
        knockout=Knockout("4-fold replaced by one hold-out split",
                          {"kfold-4": {"protocol": "shuffled-holdout", "folds": 1}}),
    ),
    Claim(
        id="iterated-kfold-variance",
        section="5.2.1",
        statement="Iterated K-fold validation with shuffling gives a lower-variance estimate than "
                  "plain K-fold.",
        book_says="iterated K-fold with shuffling is for when you need to evaluate as precisely as possible",
        parts=(less_spread("iterated-less-spread", "iterated 3x4-fold estimate varies less than 4-fold",
                           extra(ESTIMATE_VAL_ACCURACY), "kfold-iterated-3x4", "kfold-4",
                           sesoi=book(0.27, "no figure; averaging 3 repeats would divide the sd by sqrt(3) if "
                                            "they were independent (log sqrt(3) = 0.55), half of that")),),
        knockout=Knockout("one repeat instead of three",
                          {"kfold-iterated-3x4": {"protocol": "kfold", "repeats": 1}}),
    ),
    Claim(
        id="common-sense-baseline",
        section="5.2.2",
        statement="Every trained model beats the common-sense baseline: predicting the majority class "
                  "of the training labels.",
        book_says="a model is useful only if it beats a common-sense baseline (0.1 on MNIST, 0.5 on IMDB)",
        parts=tuple(
            greater(f"{name}-beats-majority", f"{name} beats the majority class", last(VAL_ACC), name, name,
                    metric_b=extra(MAJORITY_BASELINE),
                    sesoi=book(0.05, "a useful model beats the baseline clearly; 5 points"))
            for name in ("mnist-zero-channels", "mnist-logreg", "mnist-96-96", "imdb-16-16", "imdb-4-4")
        ),
        knockout=Knockout("logistic regression trained on shuffled labels",
                          {"mnist-logreg": {"recipe": "shuffled-labels"}}),
    ),
)

# Section 5.3: improving model fit ----------------------------------------------------------
SECTION_5_3 = (
    Claim(
        id="lr-too-high",
        section="5.3.1 (Listings 5.7-5.8)",
        statement="With RMSprop(1.0) the MNIST model stalls far below what RMSprop(1e-2) reaches.",
        book_says="RMSprop(1.0) gets stuck around 20-40% validation accuracy; RMSprop(1e-2) trains normally",
        parts=(
            less("lr1-stalls", "RMSprop(1.0) stalls below 0.6", last(VAL_ACC), "mnist-rmsprop-lr1", than=0.6,
                 sesoi=book(0.1, "stuck at 20-40% (3rd ed.); 0.5 is still far from training")),
            greater("lr1e-2-trains", "RMSprop(1e-2) beats RMSprop(1.0) by more than 0.3", last(VAL_ACC),
                    "mnist-rmsprop-lr1e-2", "mnist-rmsprop-lr1", than=0.3,
                    sesoi=book(0.1, "1e-2 trains to ~0.97, 1.0 stays at 20-40%: a gap of 0.4 or more")),
        ),
        knockout=Knockout("learning rate 1e-2 in place of 1.0", {"mnist-rmsprop-lr1": {"learning_rate": 1e-2}}),
    ),
    Claim(
        id="underfit-logreg",
        section="5.3.3 (Listing 5.9)",
        statement="Logistic regression on MNIST underfits: its validation loss plateaus with no "
                  "overfitting rise within 20 epochs.",
        book_says="the validation metrics of the logistic regression stall; validation loss goes to 0.26 and stays",
        parts=(within("late-plateau", "late val_loss slope within 0 +/- 0.003 per epoch (a plateau)",
                      late_slope(), "mnist-logreg", center=0.0, half_width=0.003,
                      source="'stays there' (2nd ed. 5.3.3); 0.003 per epoch is a third of the 96-96 "
                             "model's late slope on the fast tier's pilot seeds (0.009)"),),
        knockout=Knockout("the 96-96 model in place of logistic regression",
                          {"mnist-logreg": {"model": "mnist_96_96"}}),
    ),
    Claim(
        id="overfit-capacity",
        section="5.3.3",
        statement="The 96-96 MLP reaches a lower validation loss than logistic regression, then "
                  "overfits: its minimum comes well before epoch 20 and validation loss rises after it.",
        book_says="with more capacity the model fits fast and starts overfitting after about 8 epochs",
        parts=(
            less("beats-logreg", "96-96 beats logistic regression at its best", best("val_loss"), "mnist-96-96",
                 "mnist-logreg", sesoi=per_tier((0.046, f"fast tier, {PILOT}"),
                                                (0.085, f"{BOOK_PILOT}: -0.171"))),
            greater("rises", "96-96 val_loss rises after its minimum", rise_after_min(), "mnist-96-96",
                    sesoi=per_tier((0.063, f"fast tier, {PILOT}"), (0.02, f"{BOOK_PILOT}: +0.041"))),
            less("early-minimum", "96-96 val_loss minimum before epoch 16", epoch_of_min(), "mnist-96-96", than=16,
                 sesoi=book(4, "overfitting after about eight epochs (3rd ed.): half of 16 - 8")),
        ),
        knockout=Knockout("logistic regression in place of the 96-96 model",
                          {"mnist-96-96": {"model": "mnist_logreg"}}),
    ),
)

# Section 5.4: improving generalization -----------------------------------------------------
SECTION_5_4 = (
    Claim(
        id="more-data",
        section="5.4.1",
        statement="More training data gives better validation accuracy (20%, 50%, 100% of the training "
                  "rows, one fixed validation set).",
        book_says="getting more data is the best way to make a model generalize better",
        parts=(
            greater("100-beats-50", "all the training rows beat half of them", best(VAL_ACC), "mnist-train-100pct",
                    "mnist-train-50pct", sesoi=per_tier((0.0075, f"fast tier, {PILOT}"),
                                                        (0.0036, f"{BOOK_PILOT}: +0.0072"))),
            greater("50-beats-20", "half the training rows beat a fifth of them", best(VAL_ACC), "mnist-train-50pct",
                    "mnist-train-20pct", sesoi=per_tier((0.0175, f"fast tier, {PILOT}"),
                                                        (0.0072, f"{BOOK_PILOT}: +0.0144"))),
        ),
        knockout=Knockout("every arm trains on all the rows", {"mnist-train-50pct": {"train_fraction": 1.0},
                                                               "mnist-train-20pct": {"train_fraction": 1.0}}),
    ),
    Claim(
        id="early-stopping",
        section="5.4.3",
        statement="Early stopping with restore_best_weights gives a model with a lower loss on the "
                  "held-back test reviews than training the 16-16-1 IMDB model to its last epoch.",
        book_says="interrupt training as soon as validation metrics stop improving, keeping the best model",
        parts=(less("restored-beats-last", "the restored model's test loss is below the last-epoch model's",
                    extra(TEST_LOSS, "val_loss"), "imdb-16-16-early-stopping", "imdb-16-16",
                    sesoi=per_tier((0.24, f"fast tier, {PILOT}"),
                                   (0.15, f"{BOOK_PILOT}: -0.299"))),),
        knockout=Knockout("no early stopping", {"imdb-16-16-early-stopping": {"early_stopping_patience": None}}),
    ),
    Claim(
        id="imdb-smaller",
        section="5.4.4 (Listing 5.11)",
        statement="The smaller 4-4-1 IMDB model starts overfitting later than the 16-16-1 model and "
                  "its validation loss degrades more slowly.",
        book_says="the smaller model starts overfitting after six epochs rather than four, and degrades more slowly",
        parts=(
            greater("later-minimum", "4-4 reaches its minimum later", epoch_of_min(), "imdb-4-4", "imdb-16-16",
                    sesoi=book(1, "six epochs rather than four (1st and 3rd eds.), half of the 2")),
            less("rises-less", "4-4 val_loss rises less after its minimum", rise_after_min(), "imdb-4-4",
                 "imdb-16-16", sesoi=per_tier((0.14, f"fast tier, {PILOT}"),
                                              (0.1, f"{BOOK_PILOT}: -0.206"))),
        ),
        knockout=Knockout("16 units in place of 4", {"imdb-4-4": {"model": "imdb_16_16"}}),
    ),
    Claim(
        id="imdb-larger",
        section="5.4.4 (Listing 5.12)",
        statement="The 512-512-1 IMDB model overfits almost at once and more severely, with a noisier "
                  "validation loss, while its training loss nears zero far faster.",
        book_says="the bigger model starts overfitting almost immediately, its validation loss is "
                  "noisier, and its training loss gets near zero",
        parts=(
            greater("rises-more", "512 val_loss rises more after its minimum", rise_after_min(), "imdb-512-512",
                    "imdb-16-16", sesoi=per_tier((0.027, f"fast tier, {PILOT}"),
                                                 (0.1, "'much more severely'; 0.48 vs 0.31 in one book-scale run"))),
            greater("more-jagged", "512 val_loss is more jagged (log10 residual sd)", jaggedness(), "imdb-512-512",
                    "imdb-16-16", sesoi=per_tier(
                        (0.12, "fast tier, half the effect measured on pilot seeds 1000-1019 (+0.248 decades)"),
                        (0.3, "'noisier, choppy': at least twice as jagged (log10 2); book-tier seeds 0-19 "
                              "measured +0.72"))),
            less("train-loss-near-zero", "512 training loss is far lower (log10)", log10_last("loss"),
                 "imdb-512-512", "imdb-16-16",
                 sesoi=per_tier((0.22, f"fast tier, {PILOT}"),
                                (0.5, "'near zero very quickly': 0.0002 vs 0.0072 in one book-scale run "
                                      "(1.6 decades), a third of it"))),
            less("earlier-minimum", "512 reaches its minimum earlier than 16-16", epoch_of_min(), "imdb-512-512",
                 "imdb-16-16", sesoi=book(1, "after one epoch rather than four, a third of the gap")),
        ),
        knockout=Knockout("16 units in place of 512", {"imdb-512-512": {"model": "imdb_16_16"}}),
    ),
    Claim(
        id="imdb-l2",
        section="5.4.4 (Listing 5.13)",
        statement="L2(0.002) weight regularization gives a lower late-training validation loss and "
                  "less overfitting than the unregularized 16-16-1 model.",
        book_says="the L2-regularized model is much more resistant to overfitting",
        parts=(
            less("late-val-loss", "L2 lowers late val_loss", late_mean("val_loss"), "imdb-16-16-l2", "imdb-16-16",
                 sesoi=per_tier((0.09, f"fast tier, {PILOT}"),
                                (0.043, f"{BOOK_PILOT}: -0.085"))),
            less("rises-less", "L2 val_loss rises less after its minimum", rise_after_min(), "imdb-16-16-l2",
                 "imdb-16-16", sesoi=per_tier((0.134, f"fast tier, {PILOT}"),
                                              (0.096, f"{BOOK_PILOT}: -0.19"))),
        ),
        knockout=Knockout("L2 factor 0", {"imdb-16-16-l2": {"model_options": (("l2", 0.0),)}}),
    ),
    Claim(
        id="imdb-dropout",
        section="5.4.4 (Listing 5.15)",
        statement="Dropout(0.5) gives a lower late-training validation loss than the unregularized "
                  "16-16-1 model.",
        book_says="dropout is a clear improvement over the reference model",
        parts=(less("late-val-loss", "dropout lowers late val_loss", late_mean("val_loss"), "imdb-16-16-dropout",
                    "imdb-16-16", sesoi=per_tier((0.09, f"fast tier, {PILOT}"),
                                                 (0.025, f"{BOOK_PILOT}: -0.051"))),),
        knockout=Knockout("dropout rate 0", {"imdb-16-16-dropout": {"model_options": (("rate", 0.0),)}}),
    ),
)

# Measurements: reported beside the claims, outside the family (the book makes no claim, or
# the comparison does not isolate the mechanism it names).
MEASUREMENTS = (
    Claim(
        id="dropout-vs-l2",
        section="5.4.4 (Listings 5.13, 5.15)",
        statement="Dropout(0.5) reaches a lower best validation loss than L2(0.002), both measured "
                  "without the weight penalty.",
        book_says="dropout seems to work much better than L2 regularization (a measurement here: with the "
                  "penalty left out the fast tier's pilots show no advantage, 0.344 vs 0.328, and the "
                  "unregularized model reaches 0.329, so the book's comparison rests on L2's penalty term)",
        parts=(less("best-data-loss", "dropout's best penalty-free val_loss is below L2's",
                    best_penalty_free("val_loss"), "imdb-16-16-dropout", "imdb-16-16-l2",
                    sesoi=book(0.01, "no figure; one point of loss")),),
        knockout=None,
        kind=MEASUREMENT,
    ),
    Claim(
        id="imdb-l1",
        section="5.4.4 (Listing 5.14)",
        statement="The l1(0.001) and l1_l2(0.001, 0.001) regularizers' effect on the late-training "
                  "validation loss of the 16-16-1 model.",
        book_says="l1 and l1_l2 are the other weight regularizers keras offers (listing 5.14), with no result shown",
        parts=(
            less("l1-late-val-loss", "l1 lowers late val_loss", late_mean("val_loss"), "imdb-16-16-l1", "imdb-16-16",
                 sesoi=book(0.05, "none; as imdb-l2's")),
            less("l1-l2-late-val-loss", "l1_l2 lowers late val_loss", late_mean("val_loss"), "imdb-16-16-l1-l2",
                 "imdb-16-16", sesoi=book(0.05, "none; as imdb-l2's")),
        ),
        knockout=None,
        kind=MEASUREMENT,
    ),
)

CLAIMS: tuple[Claim, ...] = SECTION_5_1 + SECTION_5_2 + SECTION_5_3 + SECTION_5_4
SECTIONS = {"5.1": SECTION_5_1, "5.2": SECTION_5_2, "5.3": SECTION_5_3, "5.4": SECTION_5_4}
# The confirmatory family: a run's alpha is divided among these many claims (Bonferroni).
# Adding or removing a claim changes every claim's level, so it is written out, not counted.
FAMILY_SIZE = len(CLAIMS)  # derived: a new claim changes every claim's level (plans say so)
ALL: tuple[Claim, ...] = CLAIMS + MEASUREMENTS
CLAIMS_BY_ID = {c.id: c for c in ALL}


def get_claim(claim_id: str) -> Claim:
    try:
        return CLAIMS_BY_ID[claim_id]
    except KeyError:
        raise UnknownNameError(
            f"unknown claim {claim_id!r}; known claims: {', '.join(CLAIMS_BY_ID)}"
        ) from None


