"""The nightly's baseline lookup (.github/scripts/previous-night.sh) against a stand-in `gh`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".github" / "scripts" / "previous-night.sh"
FAKE_GH = """#!/usr/bin/env bash
echo "$*" >> "$ARTIFACTS/gh-calls"
case "$1 $2" in
  "run list") [ -n "${LIST_FAILS:-}" ] && { echo "HTTP 401: Bad credentials" >&2; exit 1; }; printf '%b\\n' "$RUNS";;
  "run download")
    [ -n "${DOWNLOAD_ERROR:-}" ] && { echo "$DOWNLOAD_ERROR" >&2; exit 1; }
    id=$3; dir=""; while [ $# -gt 0 ]; do [ "$1" = "--dir" ] && dir=$2; shift; done
    [ -d "$ARTIFACTS/$id" ] || { echo "no valid artifacts found to download" >&2; exit 1; }
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


@pytest.mark.parametrize("runs", ["", "103 in_progress"], ids=["first night", "only this run"])
def test_no_earlier_night_is_not_an_error(tmp_path, runs):
    out = _run(tmp_path, runs, {})
    assert out.returncode == 0, out.stderr
    assert "no baseline" in out.stdout or "no earlier night" in out.stdout
    assert not any((tmp_path / "previous").iterdir())


def test_an_error_of_gh_is_not_read_as_no_baseline(tmp_path):
    """`2>/dev/null` used to turn an authentication error into "no baseline"."""
    out = _run(tmp_path, "", {}, LIST_FAILS="1")
    assert out.returncode == 1 and "::error::cannot list earlier runs" in out.stdout


def test_a_failed_download_other_than_a_missing_artifact_fails(tmp_path):
    out = _run(tmp_path, "101 completed", {101: "night"}, DOWNLOAD_ERROR="HTTP 401: Bad credentials")
    assert out.returncode == 1 and "Bad credentials" in out.stdout


def test_runs_are_listed_for_one_branch(tmp_path):
    out = _run(tmp_path, "101 completed", {101: "night"}, BRANCH="release")
    assert out.returncode == 0 and "--branch release" in (tmp_path / "artifacts" / "gh-calls").read_text()


ALARM = Path(__file__).resolve().parents[1] / ".github" / "scripts" / "raise-alarm.sh"
FAKE_GH_ISSUES = """#!/usr/bin/env bash
echo "$*" >> "$LOG"
case "$1 $2" in
  "issue list") cat "$OPEN" 2>/dev/null || true;;
  "issue create") echo "created";;
  "issue comment") echo "commented";;
esac
"""


def _alarm(tmp_path: Path, open_issue: str) -> tuple[subprocess.CompletedProcess, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH_ISSUES)
    (bin_dir / "gh").chmod(0o755)
    (tmp_path / "open").write_text(open_issue)
    report = tmp_path / "ab.md"
    report.write_text("# A/B\n- imdb-dropout/late-val-loss: changed away from the book\n")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LOG": str(tmp_path / "log"),
           "OPEN": str(tmp_path / "open"), "GITHUB_RUN_ID": "7"}
    out = subprocess.run(["bash", str(ALARM), str(report)], env=env, capture_output=True, text=True, timeout=30)
    return out, (tmp_path / "log").read_text()


def test_an_alarm_opens_an_issue_with_the_report_when_none_is_open(tmp_path):
    out, calls = _alarm(tmp_path, "")
    assert out.returncode == 0, out.stderr
    assert "issue create" in calls and "--label fml-bench-nightly" in calls


def test_an_alarm_comments_on_the_issue_still_open(tmp_path):
    out, calls = _alarm(tmp_path, "42")
    assert out.returncode == 0 and "issue comment 42" in calls and "issue create" not in calls


def _workflow(name: str) -> dict:
    import yaml

    return yaml.safe_load((SCRIPT.parents[1] / "workflows" / name).read_text())


def test_the_nightly_is_one_ab_job_whose_steps_fit_its_timeout_and_publish_always():
    job = _workflow("nightly.yml")["jobs"]["ab"]
    steps = job["steps"]
    assert sum(s.get("timeout-minutes", 0) for s in steps) < job["timeout-minutes"]
    without_limit = [s.get("name", s.get("uses")) for s in steps if "timeout-minutes" not in s and "run" in s]
    assert not without_limit, f"run steps without a timeout: {without_limit}"
    ab_step = next(s for s in steps if s.get("id") == "ab")
    assert "timeout -s INT" in ab_step["run"] and "fml-bench ab" in ab_step["run"]
    budget = int(job["env"]["AB_BUDGET_MINUTES"])
    assert budget + 5 < ab_step["timeout-minutes"]  # the INT (and the kill 5 min later) come before the step's limit
    publishing = [s for s in steps if any(w in s.get("name", "") for w in ("Upload", "summary", "site", "alarm"))]
    assert publishing and all("always()" in s.get("if", "") for s in publishing)


def test_the_nightly_tests_todays_tf_nightly_not_the_stopped_cpu_package_and_caches_apart_from_ci():
    text = (SCRIPT.parents[1] / "workflows" / "nightly.yml").read_text()
    assert "tf-nightly-cpu" not in text and "pin_newest('tf-nightly keras-nightly')" in text
    keys = {name: {s["with"]["key"] for s in _workflow(name)["jobs"][job]["steps"]
                   if "cache" in s.get("uses", "") and "with" in s}
            for name, job in (("nightly.yml", "ab"), ("ci.yml", "test"))}
    assert keys["nightly.yml"] and keys["ci.yml"] and not keys["nightly.yml"] & keys["ci.yml"]
