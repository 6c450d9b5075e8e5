"""The command line: listing, running with resume, showing, errors that say what to do."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from fml_bench import cli, paths, runner
from tests.test_store import FakeEngine


def test_list_shows_experiments_and_claims(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "mnist-noise-channels" in out and "imdb-l2" in out and "Listing 5.13" in out


def test_run_then_show_reuses_the_store(capsys, monkeypatch):
    engine = FakeEngine()
    monkeypatch.setattr(runner, "get_engine", lambda name: engine)
    ref = ["--engine", "reference"]  # the fake engine files its records as the reference engine's
    assert cli.main(["run", "mnist-noise-channels", "--seeds", "3", *ref]) == 0
    assert engine.trained == [0, 1, 2]
    assert cli.main(["run", "mnist-noise-channels", "--seeds", "4", *ref]) == 0
    assert engine.trained == [0, 1, 2, 3]
    out = capsys.readouterr().out
    assert "stored, not recomputed" in out and "val_accuracy" in out
    assert cli.main(["show", "mnist-noise-channels", *ref]) == 0
    assert "seed 3" in capsys.readouterr().out


def test_show_without_runs_says_what_to_do(capsys):
    assert cli.main(["show", "mnist-logreg"]) == 1
    assert "fml-bench run mnist-logreg" in capsys.readouterr().out


@pytest.mark.parametrize("argv,expected", [
    (["run", "mnist-nope"], "fml-bench list"),
    (["check", "no-such-claim"], "known claims"),
])
def test_unknown_names_are_clear_errors(capsys, argv, expected):
    assert cli.main(argv) == 2
    assert expected in capsys.readouterr().err


def test_missing_dataset_is_a_clear_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FML_BENCH_OFFLINE", "1")
    monkeypatch.setenv("FML_BENCH_DATA", str(tmp_path))  # restored afterwards: --data-dir sets it
    assert cli.main(["--data-dir", str(tmp_path), "run", "imdb-16-16", "--seeds", "1"]) == 2
    err = capsys.readouterr().err
    assert "IMDB is not available" in err and "aclImdb_v1.tar.gz" in err


def test_compare_exits_nonzero_on_a_regression(tmp_path, capsys):
    import copy
    import json

    from tests.make_fixtures import FIXTURES

    doc = json.loads((FIXTURES / "results-v2.json").read_text())
    worse = copy.deepcopy(doc)
    worse["claims"][0]["verdict"] = "fail"
    (tmp_path / "a.json").write_text(json.dumps(doc))
    (tmp_path / "b.json").write_text(json.dumps(worse))
    assert cli.main(["compare", str(tmp_path / "a.json"), str(tmp_path / "a.json")]) == 0
    assert cli.main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 1
    assert "pass -> fail" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["check", "--seeds", "0"], ["check", "--seeds", "-3"], ["check", "--seeds", "1"], ["check", "--seeds", "8,4"],
    ["check", "--alpha", "2"], ["check", "--alpha", "0"], ["check", "--alpha", "-1"], ["check", "--alpha", "nan"],
    ["run", "mnist-logreg", "--first-seed", "-1"], ["run", "mnist-logreg", "--seeds", "0"],
])
def test_bad_options_are_refused_before_any_training(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and ("--seeds" in err or "--alpha" in err or "whole number" in err)


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0 and "fml-bench 0.1.0" in capsys.readouterr().out


def test_store_and_data_dirs_work_after_the_command(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(cli, "cmd_show", lambda args: seen.update(store=args.store_dir, data=args.data_dir) or 0)
    assert cli.main(["show", "mnist-logreg", "--store-dir", str(tmp_path / "s"), "--data-dir", str(tmp_path)]) == 0
    assert seen == {"store": str(tmp_path / "s"), "data": str(tmp_path)}
    assert cli.main(["--store-dir", "before", "show", "mnist-logreg"]) == 0 and seen["store"] == "before"


def test_data_dir_does_not_outlive_the_call(tmp_path, monkeypatch):
    # CI went red when one CLI test's --data-dir stayed in os.environ and every later IMDB load
    # in the same pytest process searched the test's empty tmp folder.
    monkeypatch.setenv(paths.DATA_ENV, "/the/users/data")
    seen = {}
    monkeypatch.setattr(cli, "cmd_show", lambda args: seen.update(during=os.environ[paths.DATA_ENV]) or 0)
    assert cli.main(["show", "mnist-logreg", "--data-dir", str(tmp_path)]) == 0
    assert seen["during"] == str(tmp_path.resolve())
    assert os.environ[paths.DATA_ENV] == "/the/users/data"
    monkeypatch.delenv(paths.DATA_ENV)
    assert cli.main(["show", "mnist-logreg", "--data-dir", str(tmp_path)]) == 0
    assert paths.DATA_ENV not in os.environ


def test_compare_exit_codes_say_regression_error_or_nothing_comparable(tmp_path, capsys, monkeypatch):
    # Issue 10: compare exited 0 on disjoint claims and 1 on both a regression and a crash.
    import copy
    import json

    from fml_bench.report import compare
    from tests.make_fixtures import FIXTURES

    doc = json.loads((FIXTURES / "results-v2.json").read_text())
    other_engine = copy.deepcopy(doc)
    for claim in other_engine["claims"]:
        claim["engine"] = "reference-elsewhere"
    (tmp_path / "a.json").write_text(json.dumps(doc))
    (tmp_path / "b.json").write_text(json.dumps(other_engine))
    assert cli.main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 2
    assert "nothing comparable" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{")
    assert cli.main(["compare", str(tmp_path / "a.json"), str(tmp_path / "broken.json")]) == 2
    monkeypatch.setattr(compare, "compare", lambda *a, **k: 1 / 0)
    assert cli.main(["compare", str(tmp_path / "a.json"), str(tmp_path / "a.json")]) == 2
    assert "internal error" in capsys.readouterr().err


def test_compare_notes_different_seeds_and_level(tmp_path, capsys):
    import copy
    import json

    from tests.make_fixtures import FIXTURES

    doc = json.loads((FIXTURES / "results-v2.json").read_text())
    fewer = copy.deepcopy(doc)
    fewer["claims"][0].update(verdict="inconclusive", seeds=2, level=0.01)
    (tmp_path / "a.json").write_text(json.dumps(doc))
    (tmp_path / "b.json").write_text(json.dumps(fewer))
    assert cli.main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0  # a warning only
    out = capsys.readouterr().out
    assert "seeds differ" in out and "level differs" in out


def _fixture_results():
    import json

    from fml_bench.report.claim_results import ClaimResult
    from tests.make_fixtures import FIXTURES

    doc = json.loads((FIXTURES / "results-v2.json").read_text())
    return {c["claim_id"]: ClaimResult.from_dict(c) for c in doc["claims"] if not c["knockout"]}


def _fake_check(monkeypatch, behaviour):
    """cmd_check with check_claim replaced: behaviour(claim_id) returns a result or raises."""
    from fml_bench import suite

    monkeypatch.setattr(suite, "check_claim", lambda claim, config, progress=None: behaviour(claim.id))


def test_a_killed_check_leaves_the_report_of_what_finished(tmp_path, monkeypatch, capsys):
    import json
    import signal

    done = _fixture_results()

    def behaviour(claim_id):
        if claim_id == "imdb-l2":
            os.kill(os.getpid(), signal.SIGTERM)  # as a CI timeout or `kill` would
        return done[claim_id]

    _fake_check(monkeypatch, behaviour)
    before = signal.getsignal(signal.SIGTERM)  # SIG_DFL, or the handler an earlier test's ray.init left
    code = cli.main(["check", "noise-channels", "imdb-l2", "imdb-l1", "--report-dir", str(tmp_path)])
    assert code == 130
    doc = json.loads((tmp_path / "latest" / "results.json").read_text())
    assert [c["claim_id"] for c in doc["claims"]] == ["noise-channels"]
    assert doc["complete"] is False and doc["planned_claims"] == 3
    assert "Incomplete run" in (tmp_path / "latest" / "report.md").read_text()
    assert signal.getsignal(signal.SIGTERM) is before  # the handler does not outlive the call


def test_one_claims_data_error_does_not_stop_the_others(tmp_path, monkeypatch, capsys):
    # Issue 10: one claim's data error stopped `check` and no report was written.
    import json

    from fml_bench.errors import DatasetUnavailableError

    done = _fixture_results()

    def behaviour(claim_id):
        if claim_id == "imdb-l2":
            raise DatasetUnavailableError("IMDB is not available: put imdb.npz into the data folder")
        return done[claim_id]

    _fake_check(monkeypatch, behaviour)
    code = cli.main(["check", "imdb-l2", "noise-channels", "--report-dir", str(tmp_path)])
    assert code == 1  # as pytest: that claim's test fails, the others run
    doc = json.loads((tmp_path / "latest" / "results.json").read_text())
    assert [c["claim_id"] for c in doc["claims"]] == ["noise-channels"] and doc["complete"] is True
    assert doc["errors"][0]["claim_id"] == "imdb-l2"
    assert "Not checked: imdb-l2" in (tmp_path / "latest" / "report.md").read_text()


def test_a_bad_baseline_is_refused_before_any_training(tmp_path, monkeypatch, capsys):
    _fake_check(monkeypatch, lambda claim_id: pytest.fail("trained despite a bad baseline"))
    (tmp_path / "base.json").write_text('{"schema_version": 1}')
    code = cli.main(["check", "imdb-l2", "--baseline", str(tmp_path / "base.json"), "--report-dir", str(tmp_path)])
    assert code == 2 and "schema" in capsys.readouterr().err


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    from fml_bench.report import run

    monkeypatch.setattr(run, "new_run_id", lambda: "20261127T000000Z")
    first = run.RunReport(tmp_path)
    monkeypatch.setattr(run, "new_run_id", iter(["20261127T000000Z", "20261127T000000Z-2"]).__next__)
    second = run.RunReport(tmp_path)
    assert first.folder != second.folder


def test_run_ids_differ_between_processes_in_one_second():
    from fml_bench.report.run import new_run_id

    assert len({new_run_id() for _ in range(50)}) == 50


def test_both_faces_offer_the_suite_options_with_the_same_checks():
    # Issue 11: the CLI and the plugin defined the same options twice (and read $FML_BENCH_ENGINE differently).
    import argparse

    from fml_bench import options

    seen = {}
    options.add_options(lambda flag, **kw: seen.setdefault(flag, kw))
    check = next(a for a in cli.build_parser()._subparsers._group_actions[0].choices.items() if a[0] == "check")[1]
    flags = {f for action in check._actions for f in action.option_strings}
    assert set(seen) <= flags
    assert seen["--alpha"]["type"] is options.alpha and seen["--seeds"]["type"] is options.seed_plan
    with pytest.raises(argparse.ArgumentTypeError):
        seen["--alpha"]["type"]("2")


def test_plans_lists_every_claims_design_with_its_sources(capsys):
    from fml_bench.claims import CLAIMS

    assert cli.main(["plans", "--tier", "fast"]) == 0
    out = capsys.readouterr().out
    for claim in CLAIMS:
        assert f"| {claim.id} " in out
    assert "half the effect measured on pilot seeds 1000-1009" in out and "P(fail | 0)" in out
    assert re.search(r"The fast tier's claims and measurements at their plans.*: \d+ minutes of one core's "
                     r"training at the first looks \(about \d+ on this machine's \d+ cores and its memory: "
                     r"\d+ workers?\), \d+ at most", out)


def test_os_errors_are_one_line_and_exit_2_before_any_training(tmp_path, capsys):
    """Issue 21: a store or report path that is a file, a read-only or full disk were tracebacks."""
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert cli.main(["check", "lr-too-high", "--report-dir", str(a_file / "reports")]) == 2
    err = capsys.readouterr().err
    assert "cannot write reports" in err and "Traceback" not in err and "is a file" in err
    assert cli.main(["check", "lr-too-high", "--report-dir", str(tmp_path / "r"), "--store-dir",
                     str(a_file / "store")]) == 2
    err = capsys.readouterr().err
    assert "cannot write to the run store" in err and "Traceback" not in err


def test_a_full_disk_is_one_line_naming_what_to_do():
    import errno

    from fml_bench.errors import os_error_line

    line = os_error_line(OSError(errno.ENOSPC, "No space left on device", "/data/store/x.json"), "saving")
    assert line.startswith("saving: No space left on device /data/store/x.json") and "disk is full" in line


def test_pytest_refuses_an_unwritable_report_folder_before_the_first_claim(tmp_path):
    import subprocess
    import sys

    a_file = tmp_path / "file"
    a_file.write_text("x")
    done = subprocess.run([sys.executable, "-m", "pytest", "benchmarks/test_claims.py", "-k", "lr-too-high",
                           "--fml-report-dir", str(a_file / "r"), "-p", "no:cacheprovider", "-q"],
                          capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]  # pytest's usage error
    assert "cannot write reports" in done.stderr and "INTERNALERROR" not in done.stdout + done.stderr


def _fixture_doc() -> dict:
    import json

    from tests.make_fixtures import FIXTURES

    return json.loads((FIXTURES / "results-v2.json").read_text())


def test_a_claim_missing_from_an_incomplete_run_is_a_regression_unless_the_run_named_others(tmp_path, capsys):
    """Issue 21: `compare FULL INCOMPLETE` exited 0."""
    import json

    full = _fixture_doc()
    assert len(full["claims"]) >= 2
    partial = {**full, "claims": full["claims"][:1], "complete": False}
    named = {**full, "claims": full["claims"][:1], "selection": [full["claims"][0]["claim_id"]]}
    for name, doc in (("full", full), ("partial", partial), ("named", named)):
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
    assert cli.main(["compare", str(tmp_path / "full.json"), str(tmp_path / "partial.json")]) == 1
    assert "the run is incomplete" in capsys.readouterr().out
    assert cli.main(["compare", str(tmp_path / "full.json"), str(tmp_path / "named.json")]) == 0


def test_a_baseline_of_another_tier_is_refused(tmp_path, capsys):
    """Issue 21: it was accepted and the report said 'Nothing to compare', switching the gate off."""
    import json

    doc = _fixture_doc()
    book = {**doc, "claims": [{**c, "tier": "book"} for c in doc["claims"]]}
    (tmp_path / "fast.json").write_text(json.dumps(doc))
    (tmp_path / "book.json").write_text(json.dumps(book))
    assert cli.main(["compare", str(tmp_path / "book.json"), str(tmp_path / "fast.json")]) == 2
    assert "compare runs of one tier" in capsys.readouterr().err
    assert cli.main(["check", "lr-too-high", "--tier", "fast", "--baseline", str(tmp_path / "book.json"),
                     "--report-dir", str(tmp_path / "r")]) == 2
    assert "compare runs of one tier" in capsys.readouterr().err


def test_unbounded_or_unknown_input_is_refused_before_data_or_tensorflow_loads(tmp_path, capsys, monkeypatch):
    """Issue 21: --seeds 3000000 trained after 60 s of silence, --first-seed 2**32 failed after the
    data loaded, FML_BENCH_ENGINE=nonsense wrote an empty report, a missing jax was a traceback."""
    with pytest.raises(SystemExit):
        cli.main(["run", "mnist-logreg", "--seeds", "3000000"])
    assert "at most 4096" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["check", "--seeds", "5,2000000000"])
    with pytest.raises(SystemExit):
        cli.main(["run", "mnist-logreg", "--first-seed", str(2**32)])
    assert "2**32" in capsys.readouterr().err
    assert cli.main(["run", "mnist-logreg", "--first-seed", str(2**32 - 2), "--seeds", "5"]) == 2
    assert "pass 2**32" in capsys.readouterr().err
    monkeypatch.setenv("FML_BENCH_ENGINE", "nonsense")
    assert cli.main(["check", "lr-too-high", "--report-dir", str(tmp_path / "r")]) == 2
    assert "unknown engine 'nonsense'" in capsys.readouterr().err and not (tmp_path / "r").exists()
    monkeypatch.delenv("FML_BENCH_ENGINE")
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "jax" else real_find_spec(name, *a))
    assert cli.main(["check", "--keras-backend", "jax", "lr-too-high"]) == 2
    assert "pip install 'fml-bench[jax]'" in capsys.readouterr().err


def test_duplicate_claim_ids_are_checked_once(tmp_path, monkeypatch):
    from fml_bench import suite
    from fml_bench.errors import DatasetUnavailableError

    seen = []

    def not_checked(claim, config, progress=None):  # an error the loop reports and goes past
        seen.append(claim.id)
        raise DatasetUnavailableError("stand-in")

    monkeypatch.setattr(suite, "check_claim", not_checked)
    cli.main(["check", "lr-too-high", "imdb-l2", "lr-too-high", "--report-dir", str(tmp_path / "r")])
    assert seen == ["lr-too-high", "imdb-l2"]


def test_version_names_the_framework(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    out = capsys.readouterr().out
    assert out.startswith("fml-bench ") and "keras" in out and "numpy" in out


def test_run_and_show_default_to_the_tiers_engine(capsys):
    """Issue 21: they defaulted to the reference engine while --help said the tier's, so `show`
    after a `check` said 'no stored runs'."""
    assert cli.main(["show", "mnist-logreg"]) == 1
    assert "stacked engine" in capsys.readouterr().out


def test_training_without_tensorflow_says_which_extra_to_install(monkeypatch, capsys):
    # Issue 22: TensorFlow is an extra (cpu, gpu) so that a GPU machine keeps one TensorFlow;
    # without any, training says how to get one instead of a traceback from deep inside keras.
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else real(name, *a))
    assert cli.main(["check", "lr-too-high"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'fml-bench[cpu]'" in err and "[gpu]" in err and "Traceback" not in err


def test_a_bad_stack_budget_is_refused_before_training(monkeypatch, capsys):
    monkeypatch.setenv("FML_BENCH_STACK_GB", "lots")
    assert cli.main(["check", "lr-too-high"]) == 2
    err = capsys.readouterr().err
    assert "$FML_BENCH_STACK_GB takes a number of gigabytes > 0, got 'lots'" in err and "Traceback" not in err
