"""The pytest plugin: options, the claim-checking fixture, progress lines, and one report per
session that checked claims, rewritten as each claim finishes.

A claim's result (with its per-seed curves) is written to a file under pytest's temporary
folder and its path travels in the test report's `user_properties`, so the process that writes
the report sees every claim whether the tests ran in it or in pytest-xdist workers (`-n N`):
one report, one family, however the tests were distributed; `--junitxml` carries the path, not
the curves. Options are spelled `--fml-*` (`options.PYTEST_PREFIX`)."""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import pytest

from fml_bench import options, parallel, paths, test_order
from fml_bench.claims import get_claim
from fml_bench.engine_registry import KERAS_BACKEND_ENV
from fml_bench.progress import event_line
from fml_bench.report.claim_results import INCONCLUSIVE
from fml_bench.report.results import json_safe
from fml_bench.store import RunStore, open_store
from fml_bench.suite import SuiteConfig, check_claim, fails_the_run
from fml_bench.tiers import get_tier

log = logging.getLogger(__name__)
RESULTS_KEY = pytest.StashKey[list]()
REPORT_KEY = pytest.StashKey[Any]()  # the session's RunReport, created with the first claim
BASELINE_KEY = pytest.StashKey["str | None"]()
RESULT_PROPERTY = "fml_bench_result"
DEFAULT_MARKEXPR = "not slow and not timing and not nightly"  # pyproject.toml's addopts


class ClaimInconclusiveWarning(UserWarning):
    """A fast-tier claim that the planned seeds could not decide."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fml-bench")
    # the same options, types and checks as `fml-bench check`, spelled --fml-*
    options.add_options(group.addoption, prefix=options.PYTEST_PREFIX)
    options.add_options(group.addoption, prefix=options.PYTEST_PREFIX, declared=options.LOCATION_OPTIONS)
    group.addoption("--fml-mnist-standin", choices=["fashion-mnist"], default=None,
                    help="book tier: use this dataset where MNIST is needed (the report names it)")
    group.addoption("--fml-no-report", action="store_true", help="do not write a report")


def pytest_configure(config: pytest.Config) -> None:
    # for this session only (restored when it ends), and visible to xdist workers and children;
    # the backend before any test module imports keras
    session_env = pytest.MonkeyPatch()
    config.add_cleanup(session_env.undo)
    if config.getoption("--fml-data-dir"):
        session_env.setenv(paths.DATA_ENV, str(Path(config.getoption("--fml-data-dir")).resolve()))
    if config.getoption("--fml-keras-backend"):
        session_env.setenv(KERAS_BACKEND_ENV, config.getoption("--fml-keras-backend"))
    if options.WORKERS_ENV not in os.environ:  # pytest spreads tests over its own workers (-n), and a
        session_env.setenv(options.WORKERS_ENV, "1")  # test's engine lives in its process: checks train there
    if _is_xdist_worker(config):
        parallel.share_cores_among_workers()  # before any test runs a TensorFlow operation
    else:
        test_order.hand_out_one_at_a_time(config)
    config.stash[RESULTS_KEY] = []
    config.stash[REPORT_KEY] = None
    baseline = config.getoption("--fml-baseline")
    if baseline and not _is_xdist_worker(config):  # refused now, not after hours of training
        from fml_bench.errors import FmlBenchError
        from fml_bench.report import results

        try:
            results.load(Path(baseline))
        except FmlBenchError as exc:
            raise pytest.UsageError(f"--fml-baseline: {exc}") from exc
    config.stash[BASELINE_KEY] = baseline
    if not _is_xdist_worker(config):
        config.pluginmanager.register(ClaimReportCollector(config), "fml-bench-claim-report")
    tier = config.getoption("--fml-tier")
    if tier and get_tier(tier).slow and config.option.markexpr == DEFAULT_MARKEXPR:
        config.option.markexpr = "slow"  # `--fml-tier book` means the same as `-m slow`


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # before xdist's own (one a core, memory unseen)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`pytest -n auto`: one worker a core, as many as the memory holds (`parallel.workers_for`);
    the user's PYTEST_XDIST_AUTO_NUM_WORKERS, where set, is left to xdist."""
    if parallel.AUTO_WORKERS_ENV in os.environ:
        return None
    from fml_bench.memory import machine_memory_bytes

    return parallel.workers_for(parallel.usable_cores(), machine_memory_bytes())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    test_order.longest_first(items)  # xdist's workers end together (test_order.py)
    tier = config.getoption("--fml-tier")
    if not tier:
        return
    def tier_of(item: pytest.Item) -> str:
        callspec = getattr(item, "callspec", None)
        return tier if callspec is None else callspec.params.get("tier", tier)

    kept = [i for i in items if tier_of(i) == tier]
    dropped = [i for i in items if i not in kept]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_collection_finish(session: pytest.Session) -> None:
    """Claims are about to train: refuse an unwritable report folder now, not after the first claim."""
    config = session.config
    if _is_xdist_worker(config) or config.getoption("--fml-no-report"):
        return
    if not any(item.get_closest_marker("claim") for item in session.items):
        return
    from fml_bench.errors import FmlBenchError
    from fml_bench.report.run import check_reports_root

    try:
        check_reports_root(paths.reports_dir(config.getoption("--fml-report-dir")))
    except FmlBenchError as exc:
        raise pytest.UsageError(f"--fml-report-dir: {exc}") from exc


@pytest.fixture(scope="session")
def run_store(pytestconfig: pytest.Config) -> RunStore:
    return open_store(paths.store_location(pytestconfig.getoption("--fml-store-dir")))


@pytest.fixture
def check(request: pytest.FixtureRequest, run_store: RunStore, tmp_path_factory: pytest.TempPathFactory):
    """check(claim_id, tier) runs and asserts one claim; the result goes to the report.
    check(claim_id, tier, knockout=True) runs it with its mechanism removed and asserts *fail*."""
    config = request.config

    def _check(claim_id: str, tier_name: str, knockout: bool = False):
        claim = get_claim(claim_id)
        suite = SuiteConfig.from_options(tier_name, run_store, config.getoption("--fml-engine"),
                                         config.getoption("--fml-alpha"), config.getoption("--fml-seeds"), knockout,
                                         mnist_standin=config.getoption("--fml-mnist-standin"))
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        capture = config.pluginmanager.get_plugin("capturemanager")

        def progress(event, spec, seed, record):
            if reporter is None or event in ("cached", "start"):
                return
            line = f"  [{claim_id}] {event_line(event, spec, seed, record)}"
            with capture.global_and_fixture_disabled():  # the terminal, not the captured output
                reporter.write_line(line)

        result = check_claim(claim, suite, progress)
        result_file = tmp_path_factory.mktemp("fml-result") / "result.json"
        result_file.write_text(json.dumps(json_safe(result.to_dict())))
        request.node.user_properties.append((RESULT_PROPERTY, str(result_file)))
        if knockout:
            if fails_the_run(result, suite.tier, knockout=True):
                pytest.fail(f"the knock-out did not make the claim fail:\n{result.message()}", pytrace=False)
            return result
        if result.known_divergence:
            request.node.add_marker(pytest.mark.xfail(
                strict=True, reason=f"known divergence: {result.known_divergence}"))
        if fails_the_run(result, suite.tier, excuse_known=False):
            pytest.fail(result.message(), pytrace=False)
        if result.verdict == INCONCLUSIVE:
            warnings.warn(ClaimInconclusiveWarning(result.message()), stacklevel=1)
        return result

    return _check


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


class ClaimReportCollector:
    """Registered in the reporting process: adds each finished claim to the session's report."""

    def __init__(self, config: pytest.Config):
        self.config = config

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        from fml_bench.report.claim_results import ClaimResult

        for name, payload in report.user_properties:
            if name != RESULT_PROPERTY:
                continue
            result = ClaimResult.from_dict(json.loads(Path(str(payload)).read_text()))
            self.config.stash[RESULTS_KEY].append(result)
            if not self.config.getoption("--fml-no-report"):
                _run_report(self.config).add(result)


def _run_report(config: pytest.Config):
    from fml_bench.report.run import RunReport

    if config.stash[REPORT_KEY] is None:
        config.stash[REPORT_KEY] = RunReport(paths.reports_dir(config.getoption("--fml-report-dir")),
                                             config.stash[BASELINE_KEY])
    return config.stash[REPORT_KEY]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _is_xdist_worker(session.config):
        return
    report = session.config.stash.get(REPORT_KEY, None)
    if report is None:
        return
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or session.shouldstop
    regressions = report.finish(complete=not interrupted)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("-", f"fml-bench report: {report.folder / 'report.md'}")
    if regressions and session.exitstatus == 0:
        session.exitstatus = 1
