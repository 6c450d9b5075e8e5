"""The Ray executor on a local Ray instance: units run as Ray tasks into the store, and the
verdicts from the store equal an ordinary run's."""

from __future__ import annotations

import json

import pytest

from fml_bench import cli
from tests.world_engine import use_everywhere

ray = pytest.importorskip("ray", reason="Ray is an optional extra (fml-bench[ray])")


def test_a_ray_run_reaches_the_verdicts_of_an_ordinary_run(tmp_path, monkeypatch):
    path = use_everywhere(tmp_path, monkeypatch)  # Ray's workers are fresh processes
    claims = ["imdb-l2", "lr-too-high", "imdb-l1"]
    seeds = ["--seeds", "2,6"]
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
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
