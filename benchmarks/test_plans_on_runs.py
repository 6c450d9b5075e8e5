"""`benchmarks/plans_on_runs.py`: a claim's committed design simulated on a store's runs holds where
the runs show the claim and is flagged where they do not (trained nothing: the synthetic worlds)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from plans_on_runs import main, plan_on_runs

from fml_bench import provenance
from fml_bench.claims import Claim, get_claim
from fml_bench.experiments import get_spec
from fml_bench.store import RunStore
from fml_bench.suite import SuiteConfig, experiment_specs, planned_design
from tests.world_engine import world_engine, world_fingerprint


def _store(folder: Path, claim: Claim, behaves_like: dict[str, str] | None = None) -> tuple[RunStore, SuiteConfig]:
    """The claim's first look stored from the synthetic world; an experiment named in
    `behaves_like` gets the records of the one it maps to (its mechanism gone)."""
    store = RunStore(folder, fingerprint=world_fingerprint)
    config = SuiteConfig.from_options("fast", store, "stacked")
    seeds = list(range(config.first_seed(claim), config.first_seed(claim) + planned_design(claim, "fast").first_look))
    for spec in experiment_specs(claim, "fast"):
        source = get_spec((behaves_like or {}).get(spec.name, spec.name), "fast")
        for record in world_engine("fast")(source, seeds):
            store.save(spec, dataclasses.replace(record, spec_name=spec.name, spec_hash=spec.content_hash()))
    return store, config


def test_a_plan_holds_on_runs_that_show_the_claim_and_is_flagged_on_runs_that_do_not(tmp_path, monkeypatch, capsys):
    claim = get_claim("lr-too-high")
    store, config = _store(tmp_path / "holds", claim)
    row = plan_on_runs(claim, config, store, worlds=500)
    assert row["seeds"] == planned_design(claim, "fast").first_look and row["p_pass"] >= 0.95
    gone, config = _store(tmp_path / "gone", claim, behaves_like={"mnist-rmsprop-lr1": "mnist-rmsprop-lr1e-2"})
    assert plan_on_runs(claim, config, gone, worlds=500)["p_pass"] < 0.05
    monkeypatch.setattr(provenance, "fingerprint", world_fingerprint)  # the command's own store: no dataset read
    assert main(["--tier", "fast", "--worlds", "500", "--store", str(tmp_path / "holds"), "lr-too-high"]) == 0
    assert main(["--tier", "fast", "--worlds", "500", "--store", str(tmp_path / "gone"), "lr-too-high"]) == 1
    assert "below 0.95: lr-too-high" in capsys.readouterr().out
    assert plan_on_runs(get_claim("imdb-l2"), config, gone)["p_pass"] is None  # no runs: no figure
