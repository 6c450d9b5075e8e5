"""The Ray executor on a local Ray instance: units run as Ray tasks into the store, and the
verdicts from the store equal an ordinary run's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fml_bench import cli, provenance, runner
from tests.world_engine import world_engine, world_fingerprint

ray = pytest.importorskip("ray", reason="Ray is an optional extra (fml-bench[ray])")

SITECUSTOMIZE = "from tests.world_engine import install\ninstall()\n"


def test_a_ray_run_reaches_the_verdicts_of_an_ordinary_run(tmp_path, monkeypatch):
    # Workers are fresh processes: they get the synthetic engine through a sitecustomize module
    # on their PYTHONPATH, as they would get a real engine through the installed package.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    root = str(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", f"{site}:{root}")
    monkeypatch.setattr(runner, "get_engine", lambda name: world_engine())  # the same in this (driver) process
    monkeypatch.setattr(provenance, "fingerprint", world_fingerprint)
    claims = ["imdb-l2", "lr-too-high", "imdb-l1"]
    seeds = ["--seeds", "2,6"]
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": f"{site}:{root}"}})
    try:
        assert cli.main(["check", *claims, *seeds, "--ray", "--store-dir", str(tmp_path / "ray"),
                         "--report-dir", str(tmp_path / "r-ray")]) == 0
    finally:
        ray.shutdown()
    assert cli.main(["check", *claims, *seeds, "--store-dir", str(tmp_path / "plain"),
                     "--report-dir", str(tmp_path / "r-plain")]) == 0
    a, b = (json.loads((tmp_path / f"r-{x}" / "latest" / "results.json").read_text()) for x in ("ray", "plain"))
    assert [(c["claim_id"], c["verdict"], c["p"], c["seeds"]) for c in a["claims"]] == \
           [(c["claim_id"], c["verdict"], c["p"], c["seeds"]) for c in b["claims"]]
