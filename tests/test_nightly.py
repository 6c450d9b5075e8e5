"""The nightly's baseline lookup (.github/scripts/previous-night.sh) against a stand-in `gh`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".github" / "scripts" / "previous-night.sh"
FAKE_GH = """#!/usr/bin/env bash
case "$1 $2" in
  "run list") [ -n "${LIST_FAILS:-}" ] && exit 1; printf '%b\\n' "$RUNS";;
  "run download")
    id=$3; dir=""; while [ $# -gt 0 ]; do [ "$1" = "--dir" ] && dir=$2; shift; done
    [ -d "$ARTIFACTS/$id" ] || exit 1
    cp -r "$ARTIFACTS/$id/." "$dir"; echo "$id" >> "$ARTIFACTS/downloads";;
esac
"""

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _run(tmp_path: Path, runs: str, artifacts: dict[int, str], **env: str) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    store = tmp_path / "artifacts"
    store.mkdir()
    for run_id, night in artifacts.items():
        (store / str(run_id)).mkdir()
        (store / str(run_id) / "results.json").write_text(night)
    environ = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "RUNS": runs, "ARTIFACTS": str(store),
               "GITHUB_RUN_ID": "103", **env}
    return subprocess.run(["bash", str(SCRIPT), str(tmp_path / "previous"), "fml-bench-report-stable"],
                          env=environ, capture_output=True, text=True, timeout=30)


def test_the_newest_earlier_night_with_results_is_the_baseline_red_or_green(tmp_path):
    # 103 is this run, 102 was cancelled before uploading, 101 was red but produced results.
    runs = "103 in_progress\\n102 completed\\n101 completed\\n100 completed"
    out = _run(tmp_path, runs, {101: "red night", 100: "green night"})
    assert out.returncode == 0, out.stderr
    assert "baseline: run 101" in out.stdout
    assert (tmp_path / "previous" / "results.json").read_text() == "red night"


def test_a_night_still_running_is_never_the_baseline(tmp_path):
    out = _run(tmp_path, "104 in_progress\\n100 completed", {104: "half", 100: "whole"})
    assert "baseline: run 100" in out.stdout


@pytest.mark.parametrize("runs, env", [("", {}), ("103 in_progress", {}), ("", {"LIST_FAILS": "1"})],
                         ids=["first night", "only this run", "listing refused"])
def test_no_earlier_night_is_not_an_error(tmp_path, runs, env):
    out = _run(tmp_path, runs, {}, **env)
    assert out.returncode == 0, out.stderr
    assert "no baseline" in out.stdout or "no earlier night" in out.stdout
    assert not any((tmp_path / "previous").iterdir())
