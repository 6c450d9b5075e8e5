"""The training floor counts what the book's models need, no more: the arithmetic of a hand-made
shape, the inputs a row reaches on real data, and a floor below the stacked engine's measured
seconds even at a peak and a bandwidth above any machine's here."""

import pytest
from training_floor import SeedShape, rows_per_model, seed_shape

from fml_bench.experiments import get_spec
from fml_bench.shards import seed_cost


def test_a_seeds_arithmetic_and_optimizer_bytes_are_counted_by_hand() -> None:
    shape = SeedShape(train_rows=10, val_rows=5, epochs=2, models=1, first_inputs=3, first_width=4,
                      first_units=2, later_weights=6, batch_size=4)
    # a training row: 4 x 3 x 2 (first layer forward and kernel gradient) + 6 x 6; a validation row 2 x 6 + 2 x 6
    assert shape.flops() == 2 * (10 * (24 + 36) + 5 * (12 + 12))
    # 3 steps an epoch (10 rows, batch 4), 14 weights, 16 bytes each
    assert shape.optimizer_bytes() == 2 * 3 * 14 * 16
    assert shape.floor_seconds(peak_gflops=1e-9, bandwidth_gbps=1.0) == pytest.approx(1440.0)
    assert shape.floor_seconds(peak_gflops=1.0, bandwidth_gbps=1e-9) == pytest.approx(1344.0)


def test_k_fold_models_train_on_all_rows_but_their_fold() -> None:
    assert rows_per_model(get_spec("kfold-4", "fast"), 500) == (375, 125)


def test_zero_channels_and_multi_hot_rows_reach_only_their_live_inputs() -> None:
    zero = seed_shape(get_spec("mnist-zero-channels", "fast"))
    noise = seed_shape(get_spec("mnist-noise-channels", "fast"))
    assert zero.first_inputs <= 784 < noise.first_inputs <= 1568
    imdb = seed_shape(get_spec("imdb-16-16", "fast"))
    assert 20 < imdb.first_inputs < 0.05 * 10000 and imdb.first_width == 10000 and imdb.first_units == 16


@pytest.mark.parametrize("name", ["mnist-noise-channels", "imdb-512-512"])
def test_the_floor_is_below_what_the_engine_was_measured_to_take(name: str) -> None:
    spec = get_spec(name, "fast")
    floor = seed_shape(spec).floor_seconds(peak_gflops=200.0, bandwidth_gbps=60.0)
    assert 0 < floor < seed_cost(spec, "fast", "stacked")
