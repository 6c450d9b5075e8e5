"""Framework builds from requirement sets (fml_bench/builds.py): the commands that make and fill a
build's virtualenv, with uv and without it, and what an interrupted or impossible build does.
Nothing is installed here: the commands are recorded (a real build is measured in
docs/measurements)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from fml_bench import builds

VERSIONS = {"python": "3.11", "numpy": "2.0", "tensorflow": "2.22.0-dev20260905", "keras": "3.13.0.dev2026090503",
            "fml_bench": "0"}


@pytest.fixture
def recorded(monkeypatch):
    """`builds._run` recorded instead of run (the venv command leaves a `python` behind)."""
    commands: list[list[str]] = []

    def run(cmd, log):
        commands.append(cmd)
        if "venv" in cmd:
            python = Path(cmd[-1]) / "bin" / "python"
            python.parent.mkdir(parents=True)
            python.write_text("")

    monkeypatch.setattr(builds, "_run", run)
    monkeypatch.setattr(builds, "probe_versions", lambda python: VERSIONS)
    return commands


def test_uv_makes_the_virtualenv_and_puts_a_nightly_over_its_stable_twin(recorded, monkeypatch, tmp_path):
    monkeypatch.setattr(builds, "uv_executable", lambda: "/opt/uv")
    python = builds.install(("tf-nightly", "keras-nightly"), base=tmp_path, log=lambda _: None)
    target = ["--python", str(python)]
    assert recorded[0] == ["/opt/uv", "venv", "--quiet", "--python", sys.executable, str(python.parents[1])]
    install = ["/opt/uv", "pip", "install", "--quiet", "--compile-bytecode", *target]
    assert recorded[1][: len(install) + 2] == [*install, "tf-nightly", "keras-nightly"]
    assert not any(req.startswith(("uv", "keras>", "keras=")) for req in recorded[1][len(install) + 2:])
    assert recorded[2] == ["/opt/uv", "pip", "uninstall", "--quiet", *target, "tensorflow", "keras"]
    assert recorded[3] == [*install, "--no-deps", "--reinstall", "tf-nightly", "keras-nightly"]
    assert recorded[4] == [*install, "--no-deps", "-e", str(builds.project_root())]
    assert json.loads((python.parents[1] / builds.BUILD_RECORD).read_text())["versions"] == VERSIONS


@pytest.mark.parametrize("why", ["uv missing", "pip asked for"])
def test_without_uv_venv_and_the_builds_own_pip_do_it(recorded, monkeypatch, tmp_path, why):
    if why == "uv missing":
        monkeypatch.setattr(builds, "uv_executable", lambda: None)
    else:
        monkeypatch.setattr(builds, "uv_executable", lambda: "/opt/uv")
        monkeypatch.setenv(builds.INSTALLER_ENV, "pip")
    python = builds.install(("tensorflow-cpu==2.16.2",), base=tmp_path, log=lambda _: None)
    assert recorded[0] == [sys.executable, "-m", "venv", str(python.parents[1])]
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    assert recorded[1][: len(pip) + 1] == [*pip, "tensorflow-cpu==2.16.2"]
    assert recorded[2] == [*pip, "--no-deps", "-e", str(builds.project_root())] and len(recorded) == 3


def test_a_finished_build_is_reused_and_an_interrupted_one_is_made_again(recorded, monkeypatch, tmp_path):
    monkeypatch.setattr(builds, "uv_executable", lambda: "/opt/uv")
    python = builds.install(("keras>=3",), base=tmp_path, log=lambda _: None)
    made = len(recorded)
    assert builds.install(("keras>=3",), base=tmp_path, log=lambda _: None) == python and len(recorded) == made
    (python.parents[1] / builds.BUILD_RECORD).unlink()  # as if stopped before the versions were written
    (python.parents[1] / "half-written").write_text("")
    builds.install(("keras>=3",), base=tmp_path, log=lambda _: None)
    assert len(recorded) == 2 * made and not (python.parents[1] / "half-written").exists()


def test_an_installer_that_cannot_run_is_a_build_error_naming_it(tmp_path):
    with pytest.raises(builds.BuildError, match="cannot run /nowhere/uv"):
        builds._run(["/nowhere/uv", "venv", str(tmp_path / "b")], tmp_path / "b.log")


def test_the_uv_fml_bench_depends_on_is_found():
    uv = builds.uv_executable()
    assert uv is not None and Path(uv).is_file()


def test_a_build_that_imports_another_keras_than_pinned_is_refused(recorded, monkeypatch, tmp_path):
    monkeypatch.setattr(builds, "uv_executable", lambda: "/opt/uv")
    with pytest.raises(builds.BuildError, match="asked for keras==3.3.3, but the build imports keras 3.13.0"):
        builds.install(("keras==3.3.3",), base=tmp_path, log=lambda _: None)
    assert not list(tmp_path.glob(f"*/{builds.BUILD_RECORD}"))  # not counted as built
