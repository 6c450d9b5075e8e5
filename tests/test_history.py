"""fml-bench history: effects over runs, change points where the effect shifted, and none where
it only wobbled."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fml_bench import cli
from fml_bench.errors import FmlBenchError
from fml_bench.report import history


def _write(reports, effects: dict[str, list[float]], versions: list[str]):
    reports.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, tf in enumerate(versions):
        claims = {key: {"verdict": "pass" if values[i] > 0.02 else "fail", "p": 0.001, "effect": values[i],
                        "ci_low": values[i] - 0.01, "ci_high": values[i] + 0.01} for key, values in effects.items()}
        lines.append(json.dumps({"run_id": f"2026110{i}T000000Z", "tensorflow": tf, "keras": "3.x", "claims": claims}))
    (reports / "history.jsonl").write_text("\n".join(lines) + "\n")


def test_a_shift_with_a_version_is_a_change_point_and_noise_is_not(tmp_path):
    rng = np.random.default_rng(1)
    versions = ["2.20"] * 6 + ["2.21"] * 6
    shifted = list(0.08 + rng.normal(0, 0.004, 6)) + list(0.0 + rng.normal(0, 0.004, 6))  # the phenomenon left
    steady = list(0.08 + rng.normal(0, 0.004, 12))
    _write(tmp_path, {"imdb-l2/fast": shifted, "noise-channels/fast": steady}, versions)
    by_key = {s.key: s for s in history.read_history(tmp_path)}
    assert by_key["imdb-l2/fast"].change_points == [6]
    assert by_key["noise-channels/fast"].change_points == []
    page = history.write_history(tmp_path)
    text = page.read_text()
    assert "TF 2.20 / Keras 3.x -> TF 2.21 / Keras 3.x" in text
    assert (tmp_path / "history-imdb-l2-fast.png").stat().st_size > 5000


def test_short_series_are_not_searched(tmp_path):
    _write(tmp_path, {"imdb-l2/fast": [0.08, 0.0, 0.08]}, ["a", "b", "c"])
    assert history.read_history(tmp_path)[0].change_points == []


def test_no_history_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(FmlBenchError, match="history.jsonl"):
        history.read_history(tmp_path)
    assert cli.main(["history", "--report-dir", str(tmp_path)]) == 2
    _write(tmp_path, {"imdb-l2/fast": [0.08] * 4}, ["a"] * 4)
    assert cli.main(["history", "--report-dir", str(tmp_path)]) == 0
    assert (tmp_path / "history.md").is_file()
