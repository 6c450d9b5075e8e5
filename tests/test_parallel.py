"""Test runs over pytest-xdist workers: how many, and each one's share of cores and memory."""

from __future__ import annotations

import os
import subprocess
import sys

from fml_bench import parallel, pytest_plugin


def test_auto_starts_a_worker_a_core_as_far_as_the_memory_holds():
    assert parallel.workers_for(2, 24 * 2**30) == 2  # this project's 2-core, 24 GB machines
    assert parallel.workers_for(2, 7e9) == 1  # a 7 GB hosted runner: two workers stalled there
    assert parallel.workers_for(16, 16e9) == 4  # many cores, less memory
    assert parallel.workers_for(2, 2e9) == 1
    assert parallel.workers_for(4, None) == 4  # memory unknown: the cores decide


def test_the_auto_hook_reads_this_machine(monkeypatch):
    monkeypatch.delenv(parallel.AUTO_WORKERS_ENV, raising=False)
    monkeypatch.setattr(parallel, "usable_cores", lambda: 8)
    monkeypatch.setattr("fml_bench.memory.machine_memory_bytes", lambda: 16e9)
    assert pytest_plugin.pytest_xdist_auto_num_workers(None) == 4
    monkeypatch.setattr("fml_bench.memory.machine_memory_bytes", lambda: 7e9)
    assert pytest_plugin.pytest_xdist_auto_num_workers(None) == 1


def test_a_worker_gets_its_share_of_the_cores(monkeypatch):
    monkeypatch.delenv(parallel.TF_THREADS_ENV, raising=False)
    monkeypatch.setattr(parallel, "usable_cores", lambda: 2)
    monkeypatch.setenv(parallel.WORKER_COUNT_ENV, "2")
    parallel.share_cores_among_workers()
    assert parallel.worker_count() == 2
    assert parallel.os.environ[parallel.TF_THREADS_ENV] == "1"


def test_a_worker_keeps_the_users_thread_count_and_a_lone_process_all_cores(monkeypatch):
    monkeypatch.setattr(parallel, "usable_cores", lambda: 2)
    monkeypatch.setenv(parallel.WORKER_COUNT_ENV, "2")
    monkeypatch.setenv(parallel.TF_THREADS_ENV, "2")
    parallel.share_cores_among_workers()
    assert parallel.os.environ[parallel.TF_THREADS_ENV] == "2"
    monkeypatch.delenv(parallel.TF_THREADS_ENV)
    monkeypatch.delenv(parallel.WORKER_COUNT_ENV)
    parallel.share_cores_among_workers()
    assert parallel.TF_THREADS_ENV not in parallel.os.environ
    monkeypatch.setenv(parallel.WORKER_COUNT_ENV, "two")
    assert parallel.worker_count() == 1


def test_the_users_auto_count_is_left_to_xdist(monkeypatch):
    monkeypatch.setenv(parallel.AUTO_WORKERS_ENV, "3")
    assert pytest_plugin.pytest_xdist_auto_num_workers(None) is None


def test_pytest_n_auto_asks_fml_bench_before_xdist(tmp_path):
    """xdist's own count (a worker a core) answered first, so a 7 GB runner got two workers
    and stalled; run as the README runs it, with the machine's memory set to 7 GB."""
    (tmp_path / "conftest.py").write_text(
        "import fml_bench.memory as m\nm.machine_memory_bytes = lambda: 7e9\n")
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k not in (parallel.AUTO_WORKERS_ENV, "PYTEST_ADDOPTS")}
    out = subprocess.run([sys.executable, "-m", "pytest", "-n", "auto", "-o", "addopts=", "-p", "no:cacheprovider",
                          str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "created: 1/1 worker" in out.stdout, out.stdout
