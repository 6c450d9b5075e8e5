"""`fml-bench check --workers N`: the seeds trained in worker processes, then the ordinary check
from the store, with the verdicts of a run in one process; a unit that fails in a worker is
trained again by the main process; a rerun with every seed stored starts no worker; an
interrupted run reports what its stored seeds decide."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fml_bench import cli, local_workers, options, parallel, runner
from fml_bench.claims import get_claim
from fml_bench.suite import claim_specs
from tests.world_engine import use_everywhere

#: Workers are fresh processes: the synthetic engine comes through a sitecustomize module on their
#: PYTHONPATH (as a real engine through the installed package). With FAIL_IN_WORKERS set, the
#: experiments it names raise inside a worker process (never in the main one); DIE_IN_WORKERS's
#: experiment ends the worker process.
SITECUSTOMIZE = """\
import os
from tests.world_engine import install, world_engine
install()
from fml_bench import runner
engine = world_engine()
def flaky(spec, seeds):
    if os.environ.get("FML_BENCH_WORKER_COUNT") and spec.name in os.environ.get("FAIL_IN_WORKERS", "").split(","):
        raise OSError(f"{spec.name}: a damaged file, in this worker only")
    if os.environ.get("FML_BENCH_WORKER_COUNT") and spec.name == os.environ.get("DIE_IN_WORKERS"):
        os._exit(137)  # as the kernel's out-of-memory killer ends a process
    return engine(spec, seeds)
runner.get_engine = lambda name: flaky
"""
CLAIMS = ["imdb-l2", "lr-too-high", "imdb-l1"]
SEEDS = ["--seeds", "2,6"]


@pytest.fixture
def world(tmp_path, monkeypatch):
    use_everywhere(tmp_path, monkeypatch, SITECUSTOMIZE)
    return tmp_path


def _check(tmp: Path, name: str, workers: str, *claims: str) -> tuple[int, list]:
    code = cli.main(["check", *(claims or CLAIMS), *SEEDS, "--workers", workers, "--store-dir", str(tmp / name),
                     "--report-dir", str(tmp / f"r-{name}")])
    doc = json.loads((tmp / f"r-{name}" / "latest" / "results.json").read_text())
    return code, [(c["claim_id"], c["verdict"], c["p"], c["seeds"]) for c in doc["claims"]]


def test_two_workers_reach_the_verdicts_of_one_process_and_a_unit_failed_there_trains_here(world, monkeypatch,
                                                                                            capsys):
    failing = [spec.name for spec in claim_specs(get_claim("lr-too-high"), _config())]
    monkeypatch.setenv("FAIL_IN_WORKERS", ",".join(failing))  # raises in a worker, not in this process
    assert _check(world, "two", "2") == _check(world, "one", "1")
    out = capsys.readouterr().out
    assert "2 workers: look 1:" in out and "imdb-16-16-l2[0-1] done in" in out
    assert f"{failing[0]}[0-1] failed after" in out and "a damaged file, in this worker only" in out
    assert "the main process trains it again" in out
    stored = sorted(p.name for p in (world / "two").rglob("seed-*.json"))
    assert stored == sorted(p.name for p in (world / "one").rglob("seed-*.json"))
    again = _check(world, "two", "2")  # a rerun with every seed stored
    assert again == _check(world, "one", "1")
    assert "2 workers:" not in capsys.readouterr().out  # no unit handed out, so no worker started


def test_a_worker_killed_for_memory_leaves_its_seeds_to_the_main_process(world, monkeypatch, capsys):
    monkeypatch.setenv("DIE_IN_WORKERS", "mnist-rmsprop-lr1")
    assert _check(world, "killed", "2", "lr-too-high") == _check(world, "one", "1", "lr-too-high")
    assert "BrokenProcessPool" in capsys.readouterr().out


def test_an_interrupted_run_reports_the_claims_its_stored_seeds_decide(world, monkeypatch, capsys):
    def trains_one_claim_then_stops(claims, config, location, workers, say):
        for spec in claim_specs(claims[0], config):  # the first claim's two looks, then Ctrl-C
            runner.run_experiment(spec, list(range(config.first_seed(claims[0]), config.first_seed(claims[0]) + 6)),
                                  config.store, config.engine)
        raise KeyboardInterrupt

    monkeypatch.setattr(local_workers, "run_on_workers", trains_one_claim_then_stops)
    code = cli.main(["check", *CLAIMS, *SEEDS, "--workers", "2", "--store-dir", str(world / "cut"),
                     "--report-dir", str(world / "r-cut")])
    assert code == 130
    doc = json.loads((world / "r-cut" / "latest" / "results.json").read_text())
    assert [c["claim_id"] for c in doc["claims"]] == ["imdb-l2"]
    assert "lr-too-high: not decided before the interruption" in capsys.readouterr().err


def _config():
    from fml_bench.store import RunStore
    from fml_bench.suite import SuiteConfig

    return SuiteConfig.from_options("fast", RunStore(Path("unused")), None, 0.05, (2, 6), False)


def test_auto_is_one_worker_inside_another_worker_and_under_pytest(monkeypatch):
    args = cli.build_parser().parse_args(["check"])
    assert args.workers == 1  # this pytest session's FML_BENCH_WORKERS: a test's check trains in its process
    monkeypatch.delenv(options.WORKERS_ENV)
    args = cli.build_parser().parse_args(["check"])
    assert args.workers == options.AUTO
    monkeypatch.setenv(parallel.CHECK_WORKER_COUNT_ENV, "2")
    monkeypatch.delenv(parallel.WORKER_COUNT_ENV, raising=False)
    assert cli._workers(args) == 1
    assert cli._workers(cli.build_parser().parse_args(["check", "--workers", "3"])) == 3
    assert cli._workers(cli.build_parser().parse_args(["check", "--workers", "3", "--no-train"])) == 1


@pytest.mark.parametrize("given", ["0", "two", "-1"])
def test_a_bad_worker_count_is_refused(given, monkeypatch, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["check", "--workers", given])
    assert stop.value.code == 2
    assert "--workers takes 'auto' or a whole number >= 1" in capsys.readouterr().err
    monkeypatch.setenv(options.WORKERS_ENV, given)
    with pytest.raises(SystemExit):
        cli.main(["check"])


def test_a_worker_gets_its_share_of_the_cores_unless_the_user_set_them(monkeypatch):
    monkeypatch.setattr(parallel, "usable_cores", lambda: 4)
    monkeypatch.delenv(parallel.TF_THREADS_ENV, raising=False)
    monkeypatch.setenv(local_workers.OMP_THREADS_ENV, "3")
    env = local_workers.worker_environment(2)
    assert env == {parallel.CHECK_WORKER_COUNT_ENV: "2", parallel.TF_THREADS_ENV: "2"}
    assert os.environ[local_workers.OMP_THREADS_ENV] == "3"
