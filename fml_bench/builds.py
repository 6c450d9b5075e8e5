"""Framework builds to compare: a Python executable that has fml-bench, or a pip requirement set
(`"tensorflow-cpu==2.16.2 keras==3.3.3"`, `"tf-nightly keras-nightly"`) installed once into a
cached virtualenv with this fml-bench beside it.

A requirement set's virtualenv lives under `<cache>/builds/<digest of the set>`; it counts as
built only once its `build.json` (the versions it ended up with) is written, so an interrupted
install is redone, never half-used. uv makes and fills it (a dependency of fml-bench: it resolves
and downloads in parallel, several times pip's speed for TensorFlow's ~100 packages); without uv,
`venv` and pip do. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from fml_bench import paths
from fml_bench.errors import FmlBenchError

BUILD_RECORD = "build.json"
FRAMEWORK_PACKAGES = re.compile(r"^(tensorflow|tf-nightly|tf_nightly|keras|keras-nightly|keras_nightly)([-_].*)?$",
                                re.IGNORECASE)
_VERSIONS_PROBE = (
    "import json, platform, numpy\n"
    "out = {'python': platform.python_version(), 'numpy': numpy.__version__}\n"
    "try:\n"
    "    import tensorflow as tf; out['tensorflow'] = tf.__version__\n"
    "except Exception as e: out['tensorflow'] = 'absent'\n"
    "import keras; out['keras'] = keras.__version__\n"
    "import fml_bench; out['fml_bench'] = fml_bench.__version__\n"
    "print(json.dumps(out))\n"
)


class BuildError(FmlBenchError):
    """A build could not be set up or does not run fml-bench."""


@dataclass(frozen=True)
class Build:
    """One side of a comparison. label: what the user gave (a path or a requirement set);
    python: the executable that runs it; versions: TensorFlow, Keras, numpy, Python and
    fml-bench as that interpreter reports them."""

    label: str
    python: Path
    versions: dict[str, str]

    def describe(self) -> str:
        """'TF 2.16.2, Keras 3.3.3 (build of 2026-10-26)' style."""
        tf, keras = self.versions.get("tensorflow", "?"), self.versions.get("keras", "?")
        dates = [d for d in (build_date(tf), build_date(keras)) if d]
        text = f"TensorFlow {tf}, Keras {keras}"
        return text + (f" (nightly of {', '.join(dict.fromkeys(dates))})" if dates else "")


def build_date(version: str) -> str | None:
    """The date of a dated nightly version ('2.23.0.dev20261026' -> '2026-10-26'), else None."""
    match = re.search(r"dev(\d{4})(\d{2})(\d{2})", version)
    return f"{match[1]}-{match[2]}-{match[3]}" if match else None


def requirement_set(text: str) -> tuple[str, ...]:
    """The requirements of a set given as one string, sorted (the order does not matter)."""
    return tuple(sorted(text.split()))


def pin_newest(text: str) -> str:
    """`text` with every requirement that names no version pinned to the newest one on the package
    index (pre-releases for *-nightly packages): 'tf-nightly keras' -> 'tf-nightly==2.23.0.dev20261026
    keras==3.15.1'. A cached build is keyed by its requirements, so an unpinned set would be built
    once and reused forever."""
    pinned = []
    for req in text.split():
        if re.search(r"[<>=!~@ ]", req):
            pinned.append(req)
        else:
            pinned.append(f"{req}=={index_versions(req, pre='nightly' in req.lower())[-1]}")
    return " ".join(pinned)


def index_versions(package: str, pre: bool = True) -> list[str]:
    """Every version of `package` on the package index, oldest first (`pre`: pre-releases too)."""
    from packaging.version import Version

    done = subprocess.run([sys.executable, "-m", "pip", "index", "versions", *(["--pre"] if pre else []), package],
                          capture_output=True, text=True, timeout=300)
    match = re.search(r"Available versions: (.*)", done.stdout)
    if done.returncode != 0 or match is None:
        last = (done.stderr.strip().splitlines() or ["no answer"])[-1]
        raise BuildError(f"cannot list the versions of {package} on the package index: {last}")
    return sorted((v.strip() for v in match[1].split(",")), key=Version)


def looks_like_python(text: str) -> bool:
    """A build given as an executable path rather than as requirements."""
    return os.sep in text or text.startswith(".") or Path(text).is_file()


def project_root() -> Path:
    """The source tree of this fml-bench (installed into each build, so both run the same code)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        raise BuildError("fml-bench is not installed from a source tree, so it cannot be installed into a "
                         "build's virtualenv: clone the repository and `pip install -e .` there")
    return root


def runtime_requirements() -> list[str]:
    """fml-bench's own dependencies without the framework (each build brings its own)."""
    out = []
    for req in metadata.requires("fml-bench") or []:
        if ";" in req:  # extras and markers: not needed to run claims
            continue
        if not FRAMEWORK_PACKAGES.match(requirement_name(req)) and requirement_name(req) != "uv":
            out.append(req)  # (uv installs the build; the build does not need it)
    return out


def probe_versions(python: Path) -> dict[str, str]:
    """The versions `python` reports; a BuildError saying why when it cannot run fml-bench."""
    try:
        done = subprocess.run([str(python), "-c", _VERSIONS_PROBE], capture_output=True, text=True, timeout=600,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    except OSError as exc:
        raise BuildError(f"cannot run {python}: {exc.strerror}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BuildError(f"{python} cannot import TensorFlow/Keras and fml-bench: {last}. "
                         "Give a requirement set instead, or `pip install -e <fml-bench>` into it")
    return json.loads(done.stdout.strip().splitlines()[-1])


def build_folder(requirements: tuple[str, ...], base: Path | None = None) -> Path:
    digest = hashlib.sha256(json.dumps([sys.version_info[:2], list(requirements)]).encode()).hexdigest()[:12]
    return (base or paths.cache_dir() / "builds") / digest


def _run(cmd: list[str], log: Path) -> None:
    with open(log, "a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        try:
            done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
        except OSError as exc:
            raise BuildError(f"cannot run {cmd[0]}: {exc.strerror}") from None
    if done.returncode != 0:
        tail = log.read_text().strip().splitlines()[-3:]
        raise BuildError(f"`{' '.join(cmd[:4])} ...` failed (exit {done.returncode}); the last lines of {log}:\n  "
                         + "\n  ".join(tail))


#: a nightly package and the stable one that writes the same module folder
NIGHTLY_TWINS = {"keras-nightly": "keras", "tf-nightly": "tensorflow", "tf-nightly-cpu": "tensorflow-cpu"}


def requirement_name(req: str) -> str:
    return re.split(r"[<>=!~ \[@]", req, maxsplit=1)[0].lower().replace("_", "-")


def uv_executable() -> str | None:
    """uv's executable, from the `uv` package fml-bench depends on; None when it is missing."""
    try:
        from uv import find_uv_bin
    except ImportError:
        return None
    try:
        return find_uv_bin()
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class Installer:
    """The commands that make a build's virtualenv and put packages into it: uv's, or venv's and pip's."""

    make_venv: list[str]
    install: list[str]  # + requirements
    uninstall: list[str]  # + names
    reinstall: str  # the flag that installs a package again over the one there


def installer(folder: Path, uv: str | None) -> Installer:
    """How the virtualenv at `folder` is made and filled: with uv when `uv` is its executable
    (bytecode compiled as the README's install does: with PYTHONDONTWRITEBYTECODE set, each run
    would compile TensorFlow's Python again), else with venv and the build's own pip."""
    python = str(folder / "bin" / "python")
    if uv is not None:
        return Installer(make_venv=[uv, "venv", "--quiet", "--python", sys.executable, str(folder)],
                         install=[uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", python],
                         uninstall=[uv, "pip", "uninstall", "--quiet", "--python", python], reinstall="--reinstall")
    return Installer(make_venv=[sys.executable, "-m", "venv", str(folder)],
                     install=[python, "-m", "pip", "install", "--disable-pip-version-check", "-q"],
                     uninstall=[python, "-m", "pip", "uninstall", "-y", "-q"], reinstall="--force-reinstall")


#: `pip` here makes builds with venv and pip even where uv is installed (uv reads its own index
#: settings, UV_INDEX_URL or uv.toml, not pip.conf: a machine set up for pip's index only)
INSTALLER_ENV = "FML_BENCH_INSTALLER"


def install(requirements: tuple[str, ...], base: Path | None = None, log=print) -> Path:
    """The Python of a virtualenv holding `requirements` and this fml-bench (built once, cached),
    made by uv when it is there and $FML_BENCH_INSTALLER is not `pip`, else by venv and pip."""
    folder = build_folder(requirements, base)
    python = folder / "bin" / "python"
    if (folder / BUILD_RECORD).is_file() and python.exists():
        return python
    if folder.exists():  # an earlier install was interrupted
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    uv_path = None if os.environ.get(INSTALLER_ENV) == "pip" else uv_executable()
    commands = installer(folder, uv_path)
    log(f"building {' '.join(requirements)} into {folder} with {'uv' if uv_path else 'pip'} "
        "(once; cached for later runs)")
    install_log = folder.with_suffix(".log")
    install_log.write_text("")
    _run(commands.make_venv, install_log)
    _run(commands.install + [*requirements, *runtime_requirements()], install_log)
    nightlies = [r for r in requirements if requirement_name(r) in NIGHTLY_TWINS]
    if nightlies:  # tensorflow-cpu pulls `keras` beside keras-nightly: both write keras/, the stable one may win
        twins = [NIGHTLY_TWINS[requirement_name(r)] for r in nightlies]
        _run(commands.uninstall + twins, install_log)
        _run(commands.install + ["--no-deps", commands.reinstall, *nightlies], install_log)
    _run(commands.install + ["--no-deps", "-e", str(project_root())], install_log)
    versions = probe_versions(python)
    for req in requirements:
        name, _, pinned = req.partition("==")
        if requirement_name(name) in ("keras", "keras-nightly") and pinned and versions.get("keras") != pinned:
            raise BuildError(f"{folder}: asked for {req}, but the build imports keras {versions.get('keras')}")
    (folder / BUILD_RECORD).write_text(json.dumps({"requirements": list(requirements), "versions": versions},
                                                  indent=1))
    return python


def resolve(text: str, base: Path | None = None, log=print) -> Build:
    """A build from what the user gave: an executable path, or a requirement set to install."""
    text = text.strip()
    if not text:
        raise BuildError("an empty build: give a Python executable or requirements such as 'tensorflow-cpu keras'")
    if looks_like_python(text):
        python = Path(text).expanduser()
        if not python.is_file():
            raise BuildError(f"no Python executable at {python}")
        return Build(label=text, python=python, versions=probe_versions(python))
    python = install(requirement_set(text), base, log)
    return Build(label=text, python=python, versions=probe_versions(python))
