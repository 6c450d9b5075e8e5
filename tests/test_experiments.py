"""Experiment specs: the notebook's configs, tier scaling and stable content hashes."""

from __future__ import annotations

import numpy as np
import pytest

from fml_bench import experiments
from fml_bench.errors import UnknownNameError
from fml_bench.experiments import get_spec


def test_hash_is_stable_across_processes_and_versions():
    # A pinned value: changing it invalidates every user's store, so it must be deliberate.
    assert get_spec("mnist-noise-channels", "book").content_hash() == "08d57125299dd337"


def test_hash_ignores_display_fields_and_follows_content():
    spec = get_spec("imdb-16-16", "book")
    assert spec.with_(name="other", listing="x").content_hash() == spec.content_hash()
    assert spec.with_(epochs=21).content_hash() != spec.content_hash()


@pytest.mark.parametrize("name,epochs,batch,split", [
    ("mnist-noise-channels", 10, 128, 0.2), ("mnist-shuffled-labels", 100, 128, 0.2),
    ("mnist-rmsprop-lr1", 10, 128, 0.2), ("mnist-logreg", 20, 128, 0.2), ("mnist-96-96", 20, 128, 0.2),
    ("imdb-16-16", 20, 512, 0.4), ("imdb-512-512", 20, 512, 0.4), ("imdb-16-16-dropout", 20, 512, 0.4),
])
def test_book_configs_are_the_notebooks(name, epochs, batch, split):
    spec = get_spec(name, "book")
    assert (spec.epochs, spec.batch_size, spec.validation_split) == (epochs, batch, split)
    assert spec.train_size is None


def test_learning_rates_of_listings_5_7_and_5_8():
    assert get_spec("mnist-rmsprop-lr1", "book").learning_rate == 1.0
    assert get_spec("mnist-rmsprop-lr1e-2", "book").learning_rate == 1e-2
    assert get_spec("mnist-noise-channels", "book").learning_rate is None  # keras' rmsprop default


def test_fast_tier_scales_data_not_the_models():
    book, fast = get_spec("imdb-16-16", "book"), get_spec("imdb-16-16", "fast")
    assert fast.model == book.model and fast.epochs == book.epochs
    assert fast.train_size == 4000 and fast.batch_size == 80
    assert get_spec("mnist-96-96", "fast").dataset == "mnist-subset"
    fractions = [get_spec(f"mnist-train-{n}pct", "fast").train_fraction for n in (20, 50, 100)]
    assert fractions == [0.2, 0.5, 1.0]


def test_train_fraction_keeps_one_validation_set():
    from fml_bench.inputs import prepare, validation_start

    small, full = get_spec("mnist-train-20pct", "fast"), get_spec("mnist-train-100pct", "fast")
    (xs, ys), (xf, yf) = prepare(small, 0), prepare(full, 0)
    assert len(ys) == 800 + 1000 and len(yf) == 5000
    assert validation_start(small, len(ys)) == 800 and validation_start(full, len(yf)) == 4000
    np.testing.assert_array_equal(xs[800:], xf[4000:])


def test_unknown_names_say_what_exists():
    with pytest.raises(UnknownNameError, match="fml-bench list"):
        get_spec("mnist-nope")
    with pytest.raises(UnknownNameError, match="fast, book"):
        get_spec("mnist-logreg", "huge")


def test_every_claim_experiment_is_registered():
    from fml_bench.claims import CLAIMS

    names = set(experiments.experiment_names())
    for claim in CLAIMS:
        assert set(claim.experiments()) <= names, claim.id
        assert len(claim.experiments()) == len(set(claim.experiments())), claim.id  # each trained once


def test_a_new_tier_is_one_registration(monkeypatch):
    # Issue 11: a tier was spread over tiers.py, for_tier's name checks and FAST_OVERRIDES.
    from fml_bench import tiers
    from fml_bench.errors import UnknownNameError
    from fml_bench.plans import plan_for

    monkeypatch.setitem(tiers.TIERS, "tiny", tiers.Tier(
        name="tiny", mnist_dataset="mnist-subset", mnist_train_size=1000, imdb_train_size=800,
        description="a smoke tier", spec_overrides={"mnist-logreg": dict(epochs=3)}, slow=False))
    spec = get_spec("mnist-logreg", "tiny")
    assert (spec.dataset, spec.train_size, spec.epochs) == ("mnist-subset", 1000, 3)
    assert get_spec("imdb-16-16", "tiny").train_size == 800
    with pytest.raises(UnknownNameError, match="plan_seeds.py --tier tiny"):
        plan_for("imdb-l2", "tiny")



def test_a_tier_is_validated_as_one_profile_when_made():
    from fml_bench.tiers import Tier

    with pytest.raises(ValueError, match="mnist_dataset 'cifar'.*imdb_batch_size must be"):
        Tier(name="odd", mnist_dataset="cifar", mnist_train_size=None, imdb_train_size=None, description="",
             imdb_batch_size=0)


def test_a_spec_names_only_registered_datasets_recipes_and_protocols():
    from fml_bench import kinds

    spec = get_spec("mnist-96-96", "fast")
    for field, name in (("dataset", "cifar"), ("recipe", "mixup"), ("protocol", "bootstrap")):
        with pytest.raises(UnknownNameError, match=f"unknown {field} '{name}'"):
            spec.with_(**{field: name})
    assert kinds.protocol("iterated-kfold").models_per_run(4, 3) == 12
    assert kinds.protocol("shuffled-holdout").models_per_run(4, 3) == 1
    assert kinds.dataset("imdb").input_width(10000) == 10000 and kinds.dataset("mnist").input_width(10000) == 784
