"""Sharded training: a deterministic, balanced split whose aggregate equals the unsharded run."""

from __future__ import annotations

import json
import re

import pytest

from fml_bench import cli, provenance, runner, shards
from fml_bench.claims import ALL, get_claim
from fml_bench.errors import FmlBenchError
from fml_bench.store import RunStore
from fml_bench.suite import SuiteConfig, claim_specs
from fml_bench.tiers import get_tier
from tests.world_engine import world_engine, world_fingerprint


@pytest.mark.parametrize("text", ["0/4", "5/4", "2", "a/b", "2/0"])
def test_a_bad_shard_is_refused(text):
    with pytest.raises(FmlBenchError, match="--shard"):
        shards.parse_shard(text)


def test_the_kubernetes_index_is_zero_based(monkeypatch):
    monkeypatch.setenv(shards.K8S_INDEX_ENV, "3")
    assert shards.shard_from_env(4) == (4, 4)


@pytest.mark.parametrize(("count", "most", "sizes"),
                         [(10, 8, [5, 5]), (17, 8, [6, 6, 5]), (8, 8, [8]), (3, 1, [1, 1, 1]), (0, 8, [])])
def test_an_experiments_seeds_are_cut_into_even_blocks(count, most, sizes):
    blocks = shards.even_blocks(list(range(100, 100 + count)), most)
    assert [len(b) for b in blocks] == sizes
    assert [s for b in blocks for s in b] == list(range(100, 100 + count))


def test_cheap_seeds_share_a_unit_and_dear_ones_stay_in_blocks_of_eight():
    """Each unit compiles its graph anew: seeds of a K-fold logreg (0.7 s) go 57 to a unit, not 8."""
    assert shards.block_seeds(0.7, fair_share=1e6) == int(shards.CHEAP_UNIT_SECONDS // 0.7) > shards.BLOCK_SEEDS
    assert shards.block_seeds(18.0, fair_share=1e6) == shards.BLOCK_SEEDS
    assert shards.block_seeds(0.5, fair_share=20, shards=2) == 20  # at most half a shard's fair share
    assert shards.block_seeds(100.0, fair_share=20, shards=2) == 1
    assert shards.block_seeds(0.0, fair_share=20) == shards.BLOCK_SEEDS


def _config(tmp_path, look_seeds=None):
    return SuiteConfig(tier=get_tier("fast"), store=RunStore(tmp_path, fingerprint=lambda s, e: {"x": "1"}),
                       seeds=look_seeds)


def test_first_look_units_cover_each_experiments_seeds_once_and_shards_partition_them(tmp_path):
    config = _config(tmp_path)
    units = shards.work_units(list(ALL), config, look=1)
    covered = [(u.spec.name, s) for u in units for s in u.seeds]
    assert len(covered) == len(set(covered))  # an experiment shared by claims is trained once
    for claim in ALL:
        n1, first = config.design(claim).first_look, config.first_seed(claim)  # the plan's block of seeds
        for name in claim.experiments():
            assert {(name, s) for s in range(first, first + n1)} <= set(covered), (claim.id, name)
    split = shards.assign(units, 4)
    assert sorted(u.name for part in split for u in part) == sorted(u.name for u in units)
    assert split == shards.assign(list(reversed(units)), 4)  # the same on every machine
    loads = [sum(u.cost for u in part) for part in split]
    assert max(loads) - min(loads) <= max(u.cost for u in units)  # longest-first bound


def test_a_knock_outs_twin_arms_are_one_unit_trained_with_the_test_split_scored(tmp_path):
    import dataclasses

    config = dataclasses.replace(_config(tmp_path), knockout=True)
    units = shards.work_units([get_claim("noise-channels"), get_claim("imdb-larger")], config, look=1)
    # noise channels -> zeros is the zero-channel arm; 512 units -> 16 is imdb-16-16 (which scores the test split)
    assert {u.spec.name for u in units} == {"imdb-16-16", "mnist-zero-channels"}
    assert all(u.spec.evaluate_test for u in units if u.spec.name == "imdb-16-16")
    lr = shards.work_units([get_claim("lr-too-high")], config, look=1)  # 1.0 -> 1e-2: named as what it is
    assert {u.spec.name for u in lr} == {"mnist-rmsprop-lr1e-2"}


def test_four_shards_then_aggregate_equal_the_unsharded_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(provenance, "fingerprint", world_fingerprint)
    monkeypatch.setattr(runner, "get_engine", lambda name: world_engine())
    claims = ["noise-channels", "imdb-l2", "imdb-dropout", "lr-too-high", "imdb-l1"]
    seeds = ["--seeds", "2,4,8"]  # looks too small to decide, so that some claims need the third
    sharded, whole = tmp_path / "sharded", tmp_path / "whole"
    for look in ("1", "2", "3"):
        for k in range(1, 5):
            assert cli.main(["check", *claims, *seeds, "--shard", f"{k}/4", "--look", look,
                             "--store-dir", str(sharded)]) == 0
    said = capsys.readouterr().out  # each unit's time beside its prediction, and the shard's ratio
    assert re.search(r"took \d+s \(predicted \d+s\)", said) and re.search(r"\d\.\d\d x the prediction", said)
    trained_by_shards = sorted(p.relative_to(sharded) for p in sharded.rglob("seed-*.json"))
    assert cli.main(["check", *claims, *seeds, "--no-train", "--store-dir", str(sharded),
                     "--report-dir", str(tmp_path / "r-sharded")]) == 0
    unsharded = ["check", *claims, *seeds, "--store-dir", str(whole), "--report-dir", str(tmp_path / "r-whole")]
    assert cli.main(unsharded) == 0
    assert trained_by_shards == sorted(p.relative_to(whole) for p in whole.rglob("seed-*.json"))
    a, b = (json.loads((tmp_path / f"r-{x}" / "latest" / "results.json").read_text()) for x in ("sharded", "whole"))
    assert [(c["claim_id"], c["verdict"], c["p"], c["seeds"]) for c in a["claims"]] == \
           [(c["claim_id"], c["verdict"], c["p"], c["seeds"]) for c in b["claims"]]
    assert any(c["seeds"] == 8 for c in a["claims"])  # a third look happened, through --look 3


def test_the_aggregate_names_missing_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(provenance, "fingerprint", world_fingerprint)
    monkeypatch.setattr(runner, "get_engine", lambda name: world_engine())
    store = str(tmp_path / "s")
    assert cli.main(["check", "imdb-l2", "--seeds", "2,8", "--no-train", "--store-dir", store,
                     "--report-dir", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "imdb-16-16 (stacked) lacks seeds 0-1" in err or "imdb-16-16-l2 (stacked) lacks seeds 0-1" in err
    assert "Not checked: imdb-l2" in (tmp_path / "r" / "latest" / "report.md").read_text()
    assert cli.main(["check", "--shard", "1/2", "--no-train"]) == 2


def test_the_cost_table_says_which_engines_it_has_measured():
    from fml_bench.shards import has_costs

    assert has_costs("fast", "stacked") and has_costs("book", "stacked")
    assert not has_costs("book", "an-engine-never-measured")


def test_a_tiers_predicted_seconds_are_what_its_units_cost_and_at_most_every_look(tmp_path):
    config = _config(tmp_path)
    first, most = shards.seconds_at_plans(list(ALL), config)
    assert first == pytest.approx(sum(u.cost for u in shards.work_units(list(ALL), config, look=1)))
    assert most > first
    one_look, three_looks = get_claim("label-noise"), get_claim("imdb-larger")
    assert len(config.design(one_look).looks) == 1 and len(config.design(three_looks).looks) == 3
    assert shards.seconds_at_plans([one_look], config)[0] == shards.seconds_at_plans([one_look], config)[1]
    per_seed = sum(shards.seed_cost(s, "fast", config.engine) for s in claim_specs(three_looks, config))
    design = config.design(three_looks)
    assert shards.seconds_at_plans([three_looks], config) == pytest.approx(
        (per_seed * design.first_look, per_seed * design.last_look))
