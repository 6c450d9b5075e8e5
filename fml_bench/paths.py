"""Where fml-bench looks for data and keeps its caches, run store and reports.

Each location is decided here and nowhere else: an explicit argument wins, then an
environment variable, then a default under the working directory or the user's cache.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DATA_ENV = "FML_BENCH_DATA"
CACHE_ENV = "FML_BENCH_CACHE"
STORE_ENV = "FML_BENCH_STORE"
REPORTS_ENV = "FML_BENCH_REPORTS"
OFFLINE_ENV = "FML_BENCH_OFFLINE"


def data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The user's data directory (searched before the keras cache), or None if unset."""
    value = explicit if explicit is not None else os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Directory for derived data (converted IMDB, for example); created on demand."""
    value = os.environ.get(CACHE_ENV)
    path = Path(value).expanduser() if value else Path.home() / ".cache" / "fml-bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Directory of the run store (one JSON record per spec hash and seed)."""
    value = explicit if explicit is not None else os.environ.get(STORE_ENV)
    return Path(value).expanduser() if value else Path.cwd() / ".fml-bench" / "store"


def store_location(explicit: str | os.PathLike | None = None) -> Path | str:
    """The run store: a local folder (as `store_dir`) or an fsspec URL such as `s3://bucket/prefix`."""
    value = explicit if explicit is not None else os.environ.get(STORE_ENV)
    if value and "://" in str(value) and not str(value).startswith("file://"):
        return str(value)
    return store_dir(str(value).removeprefix("file://") if value else None)


def reports_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Directory that receives one folder per report run."""
    value = explicit if explicit is not None else os.environ.get(REPORTS_ENV)
    return Path(value).expanduser() if value else Path.cwd() / "reports"


def offline() -> bool:
    """True when downloads must not be attempted (FML_BENCH_OFFLINE=1)."""
    return os.environ.get(OFFLINE_ENV, "").lower() in {"1", "true", "yes"}


@contextmanager
def environment(values: dict[str, str | None]) -> Iterator[None]:
    """Set the environment variables with a value for the duration of the block, then restore.

    The command line uses this for `--data-dir` and `--keras-backend`: one call to
    `fml_bench.cli.main` must not change what later calls in the same process (a test run, a
    notebook) see."""
    given = {k: v for k, v in values.items() if v is not None}
    before = {k: os.environ.get(k) for k in given}
    os.environ.update(given)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def data_dir_set(folder: str | os.PathLike | None) -> contextlib.AbstractContextManager[None]:
    """Make `folder` the data directory for the duration of the block (see `environment`)."""
    return environment({DATA_ENV: str(Path(folder).expanduser().resolve()) if folder is not None else None})


def safe_file_name(text: str) -> str:
    """`text` as one file name inside its folder: every character but letters, digits, '.', '_'
    and '-' becomes '_', and no leading dot (a claim id read from a results.json such as
    '../../x' must not write outside the report folder)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip(".")
    return cleaned or "_"
