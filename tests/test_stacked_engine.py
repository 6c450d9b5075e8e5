"""The stacked engine reproduces keras' own fit exactly where the randomness is shared: one
seed, the reference engine's initial weights, no shuffling."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fml_bench import memory as machine_memory
from fml_bench import options, parallel
from fml_bench.engine import bags, reference, stacked, stacking
from fml_bench.experiments import get_spec
from fml_bench.memory import retained_in_fresh_process
from fml_bench.models import BUILDERS
from fml_bench.models import build as build_model
from fml_bench.protocol import early_stopping_epochs
from fml_bench.seeding import seed_everything
from tests.engine_cases import CASES, keras_fit_without_shuffle


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("xla", [True, False], ids=["xla", "no-xla"])
def test_one_seed_reproduces_keras_fit(case, xla):
    spec = CASES[case]
    expected = keras_fit_without_shuffle(spec, 3)
    got = stacked.run_seeds(spec, [3], shuffle=False, jit_compile=xla)[0].history
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(got[key], expected[key], rtol=2e-4, atol=2e-5, err_msg=key)


def test_the_zero_channels_first_layer_leaves_the_zero_columns_out_and_reproduces_keras_fit(monkeypatch):
    """Listing 5.1's zero channels: the first layer reads at most the 784 pixel columns
    (`live_width` finds the all-zero half), and one seed still reproduces `model.fit` on all 1,568."""
    spec = get_spec("mnist-zero-channels", "fast").with_(name="t-zero", train_size=300, epochs=2)
    widths = []
    real = stacked.live_width
    monkeypatch.setattr(stacked, "live_width", lambda arrays: widths.append(real(arrays)) or widths[-1])
    got = stacked.run_seeds(spec, [3], shuffle=False)[0].history
    assert len(widths) == 1 and 392 < widths[0] <= 784  # every zero channel out (and the blank last pixels of
    # these 300 images); that no value was left out shows in the reproduction of model.fit below
    expected = keras_fit_without_shuffle(spec, 3)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(got[key], expected[key], rtol=2e-4, atol=2e-5, err_msg=key)


def test_live_width_needs_every_row_of_every_split_zero_past_it():
    x = np.zeros((5, 8), np.float32)
    x[:, :4] = 1.0
    assert stacked.live_width([x, x[:2]]) == 4
    val = x[:2].copy()
    val[1, 6] = 0.5  # one validation value in the tail: only columns 7 on are dead, under the share
    assert stacked.live_width([x, val]) is None
    x[0, 3] = 0.0
    assert stacked.live_width([x]) == 4  # a live column is one non-zero value anywhere above it
    blank_corner = np.ones((3, 8), np.float32)
    blank_corner[:, 7] = 0.0
    assert stacked.live_width([blank_corner]) is None  # one dead column of eight: under the share, kept
    assert stacked.live_width([np.ones((3, 2, 8), np.float32)]) is None  # per-seed rows, no dead tail
    with pytest.raises(ValueError, match="different widths"):
        stacked.live_width([x, x[:, :4]])  # a split without the recipe's columns is refused, not reshaped


@pytest.mark.parametrize("dense_words", [0, 10, 256], ids=["all-bags", "split", "all-dense"])
@pytest.mark.parametrize("experiment", ["imdb-16-16-l2", "imdb-16-16-dropout"])
def test_binary_model_reproduces_keras_fit(multi_hot_data, experiment, dense_words, monkeypatch):
    """IMDB-style: sparse multi-hot input, sigmoid output, binary crossentropy, with L2 on both
    hidden layers, or Dropout(0.5) after them. One seed, no shuffling: the stacked engine draws
    each step's dropout mask from the model's own seed generator, as `model.fit` does, so even
    the dropout curves are keras' own. The first layer's frequent words as a dense block, the
    rest as bags, in every proportion (the fixture has 50 words)."""
    monkeypatch.setattr(bags, "DENSE_WORDS", dense_words)
    x, y = multi_hot_data
    spec = get_spec(experiment, "fast").with_(name="t4", train_size=None, epochs=3, batch_size=32)
    seed_everything(5)
    model = reference.compile_model(spec)
    expected = model.fit(x, y, epochs=3, batch_size=32, validation_split=0.4, shuffle=False, verbose=0).history
    got = stacked.run_seeds(spec, [5], shuffle=False)[0].history
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=2e-4, atol=2e-5, err_msg=key)


@pytest.mark.parametrize("model_name", sorted(BUILDERS))
def test_initial_weights_without_building_are_those_keras_build_gives(model_name):
    """K-fold slots are made one after another after one seed_everything; the weights the engine
    takes from the initialisers of models it never builds equal keras' built ones, slot by slot."""
    width = 10000 if model_name.startswith("imdb") else 784

    def slots(build_each: bool) -> list:
        seed_everything(7)
        made = []
        for _ in range(3):
            model = build_model(model_name)
            if build_each:
                model.build((None, width))
            made.append(model)
        return made

    built, unbuilt = slots(True), slots(False)
    assert not any(m.built for m in unbuilt)
    fan_in = width
    for i, layer in enumerate(built[0].layers):
        if isinstance(layer, keras.layers.Dense):
            for a, b in zip(built, unbuilt):
                kernel, bias = stacked.initial_dense_weights(b.layers[i], fan_in)
                np.testing.assert_array_equal(kernel, a.layers[i].kernel.numpy())
                np.testing.assert_array_equal(bias, a.layers[i].bias.numpy())
            fan_in = layer.units


@pytest.mark.parametrize("experiment", ["imdb-16-16-l2", "imdb-16-16-l1-l2", "imdb-16-16-l1"])
def test_each_seeds_penalty_is_its_keras_regularizer_on_its_own_kernel(experiment):
    """The penalty is vectorised over the seed axis (one trace, not one per seed); each seed's
    value is keras' regularizer called on that seed's kernels alone."""
    spec = get_spec(experiment, "fast")
    net = stacked.StackedNet(stacked.initial_models(spec, [0, 1, 2], None), 10000)
    expected = [sum(float(layer.regularizer(layer.kernel.value[s])) for layer in net.layers
                    if isinstance(layer, stacked._Dense) and layer.regularizer is not None) for s in range(3)]
    assert min(expected) > 0
    np.testing.assert_allclose(net.regularization().numpy(), expected, rtol=1e-6)


def test_each_seed_starts_from_the_reference_initial_weights():
    spec = CASES["dense-rmsprop"]
    models = stacked.initial_models(spec, [0, 1], None)  # not built: the engine calls the initialisers
    net = stacked.StackedNet(models, 784)
    seed_everything(1)
    lone = reference.compile_model(spec)
    lone.build((None, 784))
    np.testing.assert_array_equal(net.layers[0].kernel.numpy()[1], lone.layers[0].kernel.numpy())
    assert not np.array_equal(net.layers[0].kernel.numpy()[0], net.layers[0].kernel.numpy()[1])
    limit = np.sqrt(6 / (784 + 96))  # glorot limit of the layer, not of the stacked tensor
    assert np.abs(net.layers[0].kernel.numpy()).max() <= limit
    assert np.abs(net.layers[0].kernel.numpy()).max() > 0.9 * limit


def test_seeds_shuffle_and_drop_out_independently(multi_hot_data):
    spec = get_spec("imdb-16-16-dropout", "fast").with_(name="t5", epochs=2, batch_size=32)
    records = stacked.run_seeds(spec, [0, 1])
    assert records[0].history["loss"] != records[1].history["loss"]
    again = stacked.run_seeds(spec, [0, 1])
    assert [r.history for r in again] == [r.history for r in records]  # deterministic per seed set


def test_early_stopping_follows_keras_rule():
    curve = np.array([0.5, 0.4, 0.45, 0.46, 0.3])
    assert early_stopping_epochs(curve, patience=2) == (4, 1)
    assert early_stopping_epochs(np.array([0.5, 0.4, 0.3]), patience=2) == (3, 2)


def test_kfold_slots_match_the_protocol():
    spec = get_spec("kfold-4", "fast").with_(name="t6", epochs=2)
    records = stacked.run_seeds(spec, [0, 1])
    assert all(r.extra["models_trained"] == 4 for r in records)
    assert records[0].extra["estimate_val_accuracy"] != records[1].extra["estimate_val_accuracy"]


def test_knocked_out_regularizers_train_exactly_like_the_plain_model():
    """L2 factor 0 and dropout rate 0 (the knock-outs of imdb-l2 and imdb-dropout) leave the
    layers in place and change nothing: the stacked engine gives the plain model's curves."""
    plain = get_spec("imdb-16-16", "fast").with_(epochs=2, train_size=400, evaluate_test=False, test_size=None)
    for model, option in (("imdb_16_16_l2", ("l2", 0.0)), ("imdb_16_16_dropout", ("rate", 0.0))):
        knocked = plain.with_(model=model, model_options=(option,))
        a, b = stacked.run_seeds(plain, [0]), stacked.run_seeds(knocked, [0])
        np.testing.assert_allclose(a[0].history["val_loss"], b[0].history["val_loss"], rtol=1e-5)
        assert b[0].history["penalty"] == [0.0, 0.0]


def test_early_stopping_scores_the_restored_model_on_the_test_split():
    spec = get_spec("imdb-16-16-early-stopping", "fast").with_(train_size=400, test_size=400, epochs=6)
    for engine in (reference, stacked):
        record = engine.run_seeds(spec, [0])[0]
        assert {"test_loss", "test_accuracy", "restored_val_loss"} <= set(record.extra)
        assert 0.4 < record.extra["test_accuracy"] <= 1.0


def test_unequal_folds_train_as_stacks_grouped_by_size(monkeypatch):
    # Issue 11: unequal folds fell back to the reference engine (one engine importing another).
    # Now each fold size is its own stack; a fold's numbers do not depend on its stack-mates.
    rng = np.random.default_rng(0)
    x, y = rng.random((103, 784)).astype(np.float32), rng.integers(0, 10, 103)  # 103 rows: folds 26/26/26/25
    monkeypatch.setattr(stacking, "prepare", lambda spec, seed, sparse=False: (x, y))
    spec = get_spec("kfold-4", "fast").with_(name="t-unequal", train_size=None, epochs=2)
    records = stacked.run_seeds(spec, [0, 1])
    assert [r.engine for r in records] == ["stacked", "stacked"]
    assert [r.env["stacks"] for r in records] == ["2", "2"] and "fallback" not in records[0].env
    assert all(r.extra["models_trained"] == 4 for r in records)
    alone = stacked.run_seeds(spec, [1])[0]
    np.testing.assert_allclose(alone.extra["estimate_val_accuracy"], records[1].extra["estimate_val_accuracy"],
                               atol=1e-6)
    np.testing.assert_allclose(alone.history["val_loss"], records[1].history["val_loss"], rtol=1e-5)


def test_fold_models_gathering_from_shared_rows_train_as_they_did_on_their_own_copies(monkeypatch):
    """stacking.FoldRows: the stacked engine's slots index one x instead of holding copies of
    their rows; the same records, to the bit, as a factory that takes copies."""
    rng = np.random.default_rng(1)
    x, y = rng.random((120, 784)).astype(np.float32), rng.integers(0, 10, 120)
    monkeypatch.setattr(stacking, "prepare", lambda spec, seed, sparse=False: (x, y))
    spec = get_spec("kfold-iterated-3x4", "fast").with_(name="t-rows", train_size=None, epochs=2, batch_size=16)
    shared = stacked.make_trainer()
    assert stacking.takes_fold_rows(shared)

    def copies(*args):
        return shared(*args)

    def run(factory):
        return stacking.train_folds(spec, [0, 1], factory, "stacked", {})

    assert not stacking.takes_fold_rows(copies)
    for a, b in zip(run(shared), run(copies)):
        assert a.history == b.history and a.extra == b.extra


def test_a_seeds_dropout_masks_do_not_depend_on_its_stack_mates(multi_hot_data):
    # Issue 12: masks came from the first seed's Dropout layer for the whole stack, so seed 1's
    # record differed between a chunk [0, 1, 2] and a chunk [1] (seen comparing sharded runs).
    spec = get_spec("imdb-16-16-dropout", "fast").with_(name="t7", epochs=2, batch_size=32)
    together = stacked.run_seeds(spec, [0, 1, 2])[1].history
    alone = stacked.run_seeds(spec, [1])[0].history
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(alone[key], together[key], rtol=1e-5, err_msg=key)


def test_a_stack_is_bounded_by_its_memory_budget(monkeypatch):
    # 256 seeds of iterated 3x4-fold went to one stack (3,072 models) and the book tier was
    # killed for lack of memory (20 GB). A stack now holds what fits $FML_BENCH_STACK_GB.
    from fml_bench.engine import seeds_per_call

    iterated = get_spec("kfold-iterated-3x4", "book")
    assert seeds_per_call("stacked", iterated, 5) == 5
    # its fold models gather their batches from rows they share (stacking.FoldRows): a seed costs
    # a quarter of what per-model copies did, and the budget still bounds the stack
    assert stacking.per_seed_bytes(iterated, shared_fold_rows=True) < stacking.per_seed_bytes(iterated) / 3
    monkeypatch.setenv(options.STACK_MEMORY_ENV, "1")
    assert seeds_per_call("stacked", iterated, 256) < 64
    monkeypatch.delenv(options.STACK_MEMORY_ENV)
    assert seeds_per_call("reference", iterated, 256) == 1
    noise = get_spec("mnist-noise-channels", "book")  # 376 MB of its own noise per seed
    assert 1 <= seeds_per_call("stacked", noise, 16) < 16
    monkeypatch.setenv(options.STACK_MEMORY_ENV, "0.001")
    assert seeds_per_call("stacked", noise, 16) == 1
    assert seeds_per_call("stacked", get_spec("imdb-16-16", "book"), 16) == 1  # weights count too


def test_the_runner_hands_a_batching_engine_chunks_of_its_limit(tmp_path, monkeypatch):
    from fml_bench import runner
    from fml_bench.store import RunStore
    from tests.test_store import FIXED, SPEC, FakeEngine

    calls: list[list[int]] = []
    engine = FakeEngine()
    monkeypatch.setattr(runner, "get_engine", lambda name: lambda spec, seeds: calls.append(list(seeds)) or
                        engine(spec, seeds))
    monkeypatch.setattr(stacked, "max_seeds", lambda spec: 3)
    runner.run_experiment(SPEC, list(range(7)), RunStore(tmp_path, fingerprint=FIXED), "stacked")
    assert calls == [[0, 1, 2], [3, 4, 5], [6]]


def test_the_default_stack_budget_fits_the_machine(monkeypatch):
    """A 7 GB runner must not get the 8 GB default (it was killed for memory)."""
    monkeypatch.delenv(options.STACK_MEMORY_ENV, raising=False)
    monkeypatch.delenv(parallel.WORKER_COUNT_ENV, raising=False)  # one process (this test may run in xdist)
    monkeypatch.setattr(machine_memory, "cgroup_limit_files", lambda: [])  # the machine's own limit stays out
    # (CI in a 7 GB cgroup failed here once the budget read the process's own cgroup)
    monkeypatch.setattr(machine_memory.os, "sysconf", lambda name: {"SC_PAGE_SIZE": 4096,
                                                             "SC_PHYS_PAGES": 7 * 10**9 // 4096}[name])
    assert stacking.memory_budget_bytes() == pytest.approx(0.4 * 7e9, rel=1e-3)
    monkeypatch.setattr(machine_memory.os, "sysconf", lambda name: {"SC_PAGE_SIZE": 4096,
                                                             "SC_PHYS_PAGES": 64 * 2**30 // 4096}[name])
    assert stacking.memory_budget_bytes() == 8e9
    monkeypatch.setenv(options.STACK_MEMORY_ENV, "2")
    assert stacking.memory_budget_bytes() == 2e9


def test_pytest_workers_share_the_stack_budget(monkeypatch):
    """Two xdist workers on a 7 GB runner train their stacks at the same time: each gets half of
    the 40%, so together they stay within it (the user's explicit budget is per stack, kept)."""
    monkeypatch.delenv(options.STACK_MEMORY_ENV, raising=False)
    monkeypatch.setattr(machine_memory, "cgroup_limit_files", lambda: [])
    monkeypatch.setattr(machine_memory.os, "sysconf", lambda name: {"SC_PAGE_SIZE": 4096,
                                                             "SC_PHYS_PAGES": 7 * 10**9 // 4096}[name])
    monkeypatch.setenv(parallel.WORKER_COUNT_ENV, "2")
    assert stacking.memory_budget_bytes() == pytest.approx(0.2 * 7e9, rel=1e-3)
    monkeypatch.setenv(options.STACK_MEMORY_ENV, "2")
    assert stacking.memory_budget_bytes() == 2e9


def test_a_containers_memory_limit_bounds_the_stack_budget(monkeypatch, tmp_path):
    """A container sees the host's memory in sysconf; its cgroup limit is what it may use."""
    monkeypatch.delenv(options.STACK_MEMORY_ENV, raising=False)
    monkeypatch.delenv(parallel.WORKER_COUNT_ENV, raising=False)
    monkeypatch.setattr(machine_memory.os, "sysconf", lambda name: {"SC_PAGE_SIZE": 4096,
                                                             "SC_PHYS_PAGES": 64 * 2**30 // 4096}[name])
    limit = tmp_path / "memory.max"
    limit.write_text("7000000000\n")
    monkeypatch.setattr(machine_memory, "cgroup_limit_files", lambda: [tmp_path / "absent", limit])
    assert stacking.memory_budget_bytes() == pytest.approx(0.4 * 7e9)
    limit.write_text("max\n")
    assert stacking.memory_budget_bytes() == 8e9


def test_the_limit_is_read_from_the_processs_own_cgroup_and_its_ancestors(tmp_path):
    """This machine runs its processes in a memory cgroup below the root (/process_api/<id>)
    without a cgroup namespace: the root's limit file says nothing about them."""
    proc = tmp_path / "cgroup"
    proc.write_text("9:name=systemd:/\n4:memory:/jobs/job7\n1:cpu:/\n0::/jobs/job7\n")
    files = machine_memory.cgroup_limit_files(tmp_path, proc)
    assert tmp_path / "memory" / "jobs" / "job7" / "memory.limit_in_bytes" in files
    assert tmp_path / "memory" / "jobs" / "memory.limit_in_bytes" in files
    assert tmp_path / "memory" / "memory.limit_in_bytes" in files
    assert tmp_path / "jobs" / "job7" / "memory.max" in files and tmp_path / "memory.max" in files
    assert machine_memory.cgroup_limit_files(tmp_path, tmp_path / "absent") == [
        tmp_path / "memory.max", tmp_path / "memory" / "memory.limit_in_bytes"]


MB = 2**20


def test_a_finished_stack_gives_its_inputs_and_weights_back():
    """Issue 19: the book tier's process grew to 13.1 GB over twelve claims and was killed. Two
    leaks: a `tf.function` applying keras' optimizer through tf.distribute's default strategy
    kept every variable and every array it captured (Keras 3.15 / TF 2.21; the framework
    sentinel in benchmarks/test_framework.py watches keras' own path). The stacked engine calls
    the optimizer's update directly (`stacked.without_distribution`) and passes its training
    arrays as arguments. Each round makes a 100 MB training array and trains on it, in a fresh
    process; a leak keeps 300 MB over three rounds (the old engine: 328 MB)."""
    retained = retained_in_fresh_process("tests.engine_cases:finished_stack")
    if retained is None:
        pytest.skip("this platform does not report a resident set")
    assert retained < 150 * MB, f"{retained / MB:.0f} MB kept by three finished stacks"


def test_the_optimizer_update_keeps_no_variable_alive():
    """The weights-and-slots half of the leak on its own: a 64 MB variable and its RMSprop slot
    updated in a compiled function, three times over, keep nothing (keras' own path keeps 128 MB
    a round; the engine before: 416 MB over three)."""
    retained = retained_in_fresh_process("tests.engine_cases:engine_optimizer_step")
    if retained is None:
        pytest.skip("this platform does not report a resident set")
    assert retained < 64 * MB, f"{retained / MB:.0f} MB kept"
