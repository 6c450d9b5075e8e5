"""The package type-checks (mypy, configured in pyproject.toml), so `py.typed` is not a promise
the code breaks."""

from __future__ import annotations

from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api", reason="mypy is in the dev extra")


def test_the_package_type_checks():
    root = Path(__file__).resolve().parents[1]
    out, err, status = api.run(["--config-file", str(root / "pyproject.toml"), str(root / "fml_bench")])
    assert status == 0, out + err
