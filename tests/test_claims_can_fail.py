"""Every claim's assertion can fail, shown through `check_claim` itself (both looks, the real
per-claim level, the claim's knock-out applied to the specs): on a synthetic world where the
book holds it passes; with its knock-out, in a world where the knocked-out arm behaves like the
arm it was turned into, its verdict is FAIL. Real-training knock-outs: benchmarks/test_knockouts.py.
"""

from __future__ import annotations

import dataclasses

import pytest

from fml_bench.claims import CLAIMS, FAMILY_SIZE, get_claim
from fml_bench.experiments import ExperimentSpec, book_specs, get_spec
from fml_bench.hypotheses import Kind
from fml_bench.report.claim_results import FAIL, PASS
from fml_bench.suite import SuiteConfig, check_claim
from fml_bench.tiers import get_tier
from tests.synthetic import records

LEVEL = 0.05 / FAMILY_SIZE * 0.7  # the second look's level of the default design
U = dict(min_epoch=4, rise=0.3, min_loss=0.28)  # an overfitting IMDB curve
IMDB_16 = dict(**U, train_loss=0.007, extra={"majority_baseline": (0.5, 0.01), "test_loss": (0.8, 0.03)},
               val_acc=0.86)
MNIST_BASELINE = {"majority_baseline": (0.11, 0.005)}
WORLD = dict(
    imdb_16_16=IMDB_16,
    imdb_4_4=dict(min_epoch=13, rise=0.05, min_loss=0.45, extra={"majority_baseline": (0.5, 0.01)}, val_acc=0.84),
    imdb_512_512=dict(min_epoch=2, rise=0.5, jag=0.15, min_loss=0.29, train_loss=0.0002),
    imdb_16_16_l2=dict(min_epoch=5, rise=0.07, min_loss=0.30, penalty=0.06),
    imdb_16_16_dropout=dict(min_epoch=6, rise=0.15, min_loss=0.284),
    imdb_16_16_l1=dict(min_epoch=8, rise=0.05, min_loss=0.38),
    imdb_16_16_l1_l2=dict(min_epoch=8, rise=0.05, min_loss=0.38),
    imdb_16_16_early_stopping=dict(**U, extra={"test_loss": (0.33, 0.01)}),
    mnist_zero_channels=dict(val_acc=0.94, extra=MNIST_BASELINE, epochs=10),
    mnist_noise_channels=dict(val_acc=0.90, epochs=10),
    mnist_shuffled_labels=dict(val_acc=0.10, acc=0.99, noise=0.005, extra=MNIST_BASELINE),
    mnist_rmsprop_lr1=dict(val_acc=0.33, epochs=10),
    mnist_rmsprop_lr1e_2=dict(val_acc=0.95, epochs=10),
    mnist_logreg=dict(min_epoch=14, min_loss=0.36, extra=MNIST_BASELINE, val_acc=0.9),
    mnist_96_96=dict(min_epoch=8, rise=0.1, min_loss=0.25, extra=MNIST_BASELINE, val_acc=0.93),
    mnist_label_noise_0=dict(val_acc=0.93, epochs=10),
    mnist_label_noise_20=dict(val_acc=0.88, epochs=10),
    mnist_label_noise_40=dict(val_acc=0.80, epochs=10),
    mnist_train_100pct=dict(val_acc=0.95, epochs=10),
    mnist_train_50pct=dict(val_acc=0.93, epochs=10),
    mnist_train_20pct=dict(val_acc=0.90, epochs=10),
    kfold_holdout=dict(extra={"estimate_val_accuracy": (0.8, 0.04)}, epochs=10),
    kfold_4=dict(extra={"estimate_val_accuracy": (0.8, 0.012)}, epochs=10),
    kfold_iterated_3x4=dict(extra={"estimate_val_accuracy": (0.8, 0.003)}, epochs=10),
)
# What a knocked-out spec behaves like, where it does not become another experiment's spec:
# (experiment, the knock-out's spec change) -> the world of the experiment it turns into.
KNOCKED_OUT_WORLDS = {
    ("imdb-16-16-l2", "model_options"): dict(IMDB_16, extra={}),
    ("imdb-16-16-dropout", "model_options"): dict(IMDB_16, extra={}),
    ("imdb-4-4", "model"): IMDB_16,
    ("imdb-512-512", "model"): IMDB_16,
    ("mnist-shuffled-labels", "recipe"): dict(val_acc=0.93, acc=0.99, extra=MNIST_BASELINE),
    ("mnist-logreg", "recipe"): dict(val_acc=0.10, acc=0.3, extra=MNIST_BASELINE),
}


def world_runner(tier: str):
    """A runner answering specs from WORLD: a spec equal to an experiment's spec (same content
    hash, as a knock-out often makes it) gets that experiment's records."""
    by_hash = {get_spec(name, tier).content_hash(): name for name in book_specs()}

    def run(spec: ExperimentSpec, seeds) -> list:
        name = by_hash.get(spec.content_hash())
        if name is not None:
            kw = WORLD[name.replace("-", "_")]
        else:
            changed = next(k for (exp, k) in KNOCKED_OUT_WORLDS if exp == spec.name and
                           getattr(spec, k) != getattr(get_spec(spec.name, tier), k))
            kw, name = KNOCKED_OUT_WORLDS[(spec.name, changed)], f"{spec.name}-knocked-out"
        return [dataclasses.replace(r, spec_name=spec.name, spec_hash=spec.content_hash())
                for r in records(name, seeds=max(seeds) + 1, **kw) if r.seed in seeds]

    return run


def config(tier: str, knockout: bool = False, seeds: tuple[int, int] = (10, 20)) -> SuiteConfig:
    return SuiteConfig(tier=get_tier(tier), store=None, knockout=knockout, runner=world_runner(tier), seeds=seeds)


def seeds_for(claim) -> tuple[int, int]:
    """(10, 20), or (64, 128) for a spread part: its robust test needs the seeds its plans give it."""
    return (64, 128) if any(p.kind is Kind.LESS_SPREAD for p in claim.parts) else (10, 20)


@pytest.mark.parametrize("claim", CLAIMS, ids=[c.id for c in CLAIMS])
@pytest.mark.parametrize("tier", ["fast", "book"])
def test_claim_passes_where_the_book_holds(claim, tier):
    result = check_claim(claim, config(tier, seeds=seeds_for(claim)))
    assert result.verdict == PASS, result.message()


@pytest.mark.parametrize("claim", CLAIMS, ids=[c.id for c in CLAIMS])
@pytest.mark.parametrize("tier", ["fast", "book"])
def test_claim_fails_with_its_knockout(claim, tier):
    result = check_claim(claim, config(tier, knockout=True, seeds=seeds_for(claim)))
    assert result.verdict == FAIL, result.message()
    assert result.knockout == claim.knockout.says


def test_a_measurement_is_reported_not_decided():
    result = check_claim(get_claim("imdb-l1"), config("fast"))
    assert result.verdict == "measured" and result.kind == "measurement"
    unplanned = SuiteConfig(tier=get_tier("fast"), store=None, runner=world_runner("fast"))
    assert check_claim(get_claim("dropout-vs-l2"), unplanned).seeds == 10  # measured without a seed plan


def test_one_gate_decides_for_the_cli_and_pytest():
    """fails_the_run is the exit code of `fml-bench check` and the outcome of a pytest claim test."""
    from fml_bench.suite import fails_the_run

    passed = check_claim(CLAIMS[0], config("fast"))
    knocked = check_claim(CLAIMS[0], config("fast", knockout=True))
    fast, book = get_tier("fast"), get_tier("book")
    assert not fails_the_run(passed, fast) and fails_the_run(knocked, fast)
    assert not fails_the_run(knocked, fast, knockout=True) and fails_the_run(passed, fast, knockout=True)
    undecided = dataclasses.replace(passed, verdict="inconclusive")
    assert not fails_the_run(undecided, fast) and fails_the_run(undecided, book)
    known = dataclasses.replace(knocked, known_divergence="a framework difference")
    assert not fails_the_run(known, fast) and fails_the_run(known, fast, excuse_known=False)
