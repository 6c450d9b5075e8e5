"""The longest tests start first (fml_bench/test_order.py), so pytest-xdist's workers end
together; the estimates order tests and judge nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fml_bench import test_order


class Item:
    def __init__(self, name: str, seconds: float | None = None):
        self.name = name
        self.marks = {} if seconds is None else {test_order.MARKER: test_order.mark(seconds).mark}

    def get_closest_marker(self, name: str):
        return self.marks.get(name)


def test_marked_tests_go_first_longest_first_and_the_rest_keep_their_order():
    items = [Item("unit-a"), Item("claim-short", 5), Item("unit-b"), Item("claim-long", 500), Item("mid", 50),
             Item("also-mid", 50)]
    test_order.longest_first(items)  # type: ignore[arg-type]
    assert [i.name for i in items] == ["claim-long", "mid", "also-mid", "claim-short", "unit-a", "unit-b"]


def test_estimates_come_from_the_cost_table_and_the_plans():
    wide = test_order.experiment_seconds("imdb-512-512", "fast", ["stacked"], 10)
    narrow = test_order.experiment_seconds("imdb-16-16", "fast", ["stacked"], 10)
    assert wide > narrow > 0
    assert test_order.claim_seconds("imdb-larger", "fast") > test_order.claim_seconds("imdb-smaller", "fast") > 0
    assert test_order.claim_seconds("dropout-vs-l2", "fast") > 0  # a measurement: its one look


def plain_pytest_env() -> dict[str, str]:
    """This environment without PYTEST_ADDOPTS: the child pytest's output is parsed here, and a
    user's `-v` or `-q` there changes it (`-o addopts=` clears only the ini file's)."""
    return {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}


def test_the_plugin_collects_the_suite_longest_first():
    """Through fml_bench's pytest plugin: the heaviest benchmark first, every unmarked test after
    every marked one."""
    root = Path(__file__).parents[1]
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "benchmarks/test_claims.py", "benchmarks/test_ab.py", "tests/test_bags.py"],
                          cwd=root, capture_output=True, text=True, timeout=300, env=plain_pytest_env())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ids = [line for line in done.stdout.splitlines() if "::" in line]
    claims = [i for i in ids if "test_claim[" in i]
    seconds = [test_order.claim_seconds(i.split("[fast-")[1].rstrip("]"), "fast") for i in claims]
    assert seconds == sorted(seconds, reverse=True)
    first_unmarked = ids.index(next(i for i in ids if i.startswith("tests/")))
    assert all(i.startswith("tests/") or "unknown_claims" in i for i in ids[first_unmarked:])


def short_tests_behind_the_long_one(tmp_path: Path, *options: str) -> int:
    """Of 200 short tests collected after a long one, how many ran on the long one's worker."""
    # The long test lasts until all but 3 short ones have run (or 20 s): on a loaded machine a fixed
    # sleep ended before the other worker had run its share, and the long one's worker then took
    # short tests that had never queued behind it. (It waited for 190 first: the last 10 were then
    # shared between both workers, and 4-5 ran behind it on a 2-core AMD EPYC Zen 3.)
    (tmp_path / "test_mix.py").write_text(
        "import pathlib, time, pytest\n"
        "@pytest.mark.expected_seconds(100)\n"
        "def test_long():\n"
        "    deadline = time.monotonic() + 20\n"
        "    while len(list(pathlib.Path('.').glob('done-*'))) < 197 and time.monotonic() < deadline:\n"
        "        time.sleep(0.05)\n"
        "@pytest.mark.parametrize('i', range(200))\n"
        "def test_short(i):\n"
        "    pathlib.Path(f'done-{i}').touch()\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "-v", *options,
                           "-o", "addopts=", "-o", "markers=expected_seconds(s): a test's expected run time"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=plain_pytest_env())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ran = [line.split()[0] for line in done.stdout.splitlines() if " PASSED " in line and line.startswith("[gw")]
    names = [line.split()[-1] for line in done.stdout.splitlines() if " PASSED " in line and line.startswith("[gw")]
    assert len(ran) == 201, done.stdout[-3000:]
    long_worker = ran[names.index("test_mix.py::test_long")]
    return sum(1 for worker, name in zip(ran, names) if worker == long_worker and "test_short" in name)


def test_xdist_hands_the_sorted_tests_out_one_at_a_time(tmp_path: Path):
    """Two workers, a long test collected first: the short ones must not queue behind it on its
    worker, as they do with xdist's default consecutive chunks."""
    assert short_tests_behind_the_long_one(tmp_path) <= 3
    assert short_tests_behind_the_long_one(tmp_path, "--maxschedchunk", "1000") >= 10  # the default: chunks of 25
