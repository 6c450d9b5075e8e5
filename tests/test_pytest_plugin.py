"""The pytest face: one report per session, rewritten as claims finish, with or without xdist."""

from __future__ import annotations

import json

import pytest

from fml_bench.stats import holm
from tests.make_fixtures import RESULTS

pytest_plugins = ["pytester"]

CONFTEST = f"""
import json

import fml_bench.pytest_plugin as plugin
from fml_bench.report.claim_results import ClaimResult

DOC = json.loads(open({str(RESULTS)!r}).read())
DONE = {{c["claim_id"]: ClaimResult.from_dict(c) for c in DOC["claims"] if not c["knockout"]}}
plugin.check_claim = lambda claim, config, progress=None: DONE[claim.id]  # no training: stored results
"""

TESTS = """
import pytest

@pytest.mark.parametrize("claim_id", ["noise-channels", "imdb-l2", "imdb-l1"])
def test_claim(check, claim_id):
    check(claim_id, "fast")
"""


@pytest.fixture
def suite(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_claims=TESTS)
    return pytester


def _reports(folder):
    runs = [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]
    return [json.loads((run / "results.json").read_text()) for run in runs]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist -n 2"])
def test_one_report_with_every_claim_and_the_family_holm(suite, tmp_path, workers):
    # Issue 10: `pytest -n 2` gave a report with one claim and Holm over the wrong family.
    out = tmp_path / "reports"
    result = suite.runpytest_subprocess(*workers, "-p", "no:cacheprovider", "--fml-report-dir", str(out))
    result.assert_outcomes(passed=3)
    (doc,) = _reports(out)
    assert sorted(c["claim_id"] for c in doc["claims"]) == ["imdb-l1", "imdb-l2", "noise-channels"]
    assert doc["complete"] is True
    family = sorted((c for c in doc["claims"] if c["kind"] == "claim"), key=lambda c: c["claim_id"])
    assert [c["p_adjusted"] for c in family] == pytest.approx(holm([c["p"] for c in family]))


def test_a_bad_baseline_stops_the_session_before_any_claim(suite, tmp_path):
    (tmp_path / "base.json").write_text("{}")
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "--fml-baseline", str(tmp_path / "base.json"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--fml-baseline*schema*"])


def test_a_session_stopped_early_reports_what_finished_as_incomplete(suite, tmp_path):
    suite.makepyfile(test_zz_stop="def test_stop():\n    raise KeyboardInterrupt\n")
    out = tmp_path / "reports"
    suite.runpytest_subprocess("-p", "no:cacheprovider", "--fml-report-dir", str(out))
    (doc,) = _reports(out)
    assert len(doc["claims"]) == 3 and doc["complete"] is False


def test_options_carry_the_fml_prefix_so_they_cannot_collide(suite):
    # Issue 22: the plugin loads into every pytest session of an environment with fml-bench;
    # an unprefixed --seeds or --baseline would collide with another plugin's.
    assert suite.runpytest_subprocess("-p", "no:cacheprovider", "--seeds", "3").ret == pytest.ExitCode.USAGE_ERROR
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "--help")
    result.stdout.fnmatch_lines(["*--fml-tier*", "*--fml-seeds*", "*--fml-store-dir*"])


def test_junit_xml_carries_no_per_seed_curves(suite, tmp_path):
    out, xml = tmp_path / "reports", tmp_path / "junit.xml"
    suite.runpytest_subprocess("-p", "no:cacheprovider", "--fml-report-dir", str(out), f"--junitxml={xml}")
    (doc,) = _reports(out)
    assert len(doc["claims"]) == 3
    assert "val_loss" not in xml.read_text() and len(xml.read_text()) < 5000
