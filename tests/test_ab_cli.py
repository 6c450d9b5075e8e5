"""`fml-bench ab` end to end with stand-in builds (shell scripts that answer as a Python with
fml-bench would): the speed path's verdicts and exit codes, an interrupted A/B that still writes
its report, and the history line that carries timings across nights."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fml_bench.ab import ABResult
from fml_bench.ab_stats import speed_change
from fml_bench.report import ab_page
from fml_bench.report.history import TIME_SERIES, read_history

VERSIONS = '{"python": "3.11", "numpy": "2.0", "tensorflow": "9.9.%s", "keras": "9.9.%s", "fml_bench": "0.1.0"}'


def fake_build(folder: Path, name: str, seconds: float, pause: float = 0.05) -> Path:
    """A stand-in interpreter: the version probe answers JSON, the timing probe `seconds` per epoch
    (with up to 1% jitter) after `pause` seconds."""
    script = folder / name
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, random, sys, time\n"
        "if any('timing_probe' in a for a in sys.argv):\n"
        f"    time.sleep({pause})\n"
        f"    print('FML_BENCH_TIMING ' + json.dumps({{'mnist-logreg': [{seconds} * (1 + random.random() / 100)]}}))\n"
        "else:\n"
        f"    print('{VERSIONS % (name, name)}')\n")
    script.chmod(0o755)
    return script


def ab(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fml_bench.cli", "ab", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_the_same_speed_is_not_flagged_and_twice_as_slow_is(tmp_path: Path) -> None:
    a, same, slow = (fake_build(tmp_path, n, s) for n, s in (("a", 0.1), ("same", 0.1), ("slow", 0.2)))
    quiet = ab(str(a), str(same), "underfit-logreg", "--no-effects", "--rounds", "4", "--out", str(tmp_path / "aa"))
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    loud = ab(str(a), str(slow), "underfit-logreg", "--no-effects", "--rounds", "4", "--out", str(tmp_path / "ab"))
    # the fake builds' times carry up to 1% noise, so the ratio prints as 1.98x to 2.02x
    assert loud.returncode == 1 and re.search(r"ALARM mnist-logreg: (1\.9[89]|2\.0[0-2])x slower", loud.stdout)
    doc = json.loads((tmp_path / "ab" / "ab.json").read_text())
    assert doc["speed"][0]["verdict"] == "slower" and doc["speed"][0]["rounds"] == 4


def test_a_rerun_continues_from_the_rounds_already_measured(tmp_path: Path) -> None:
    a, b = fake_build(tmp_path, "a", 0.1), fake_build(tmp_path, "b", 0.1)
    out = tmp_path / "ab"
    ab(str(a), str(b), "underfit-logreg", "--no-effects", "--rounds", "3", "--out", str(out))
    again = ab(str(a), str(b), "underfit-logreg", "--no-effects", "--rounds", "5", "--out", str(out))
    assert again.stdout.count("timing round") == 2  # rounds 4 and 5 only
    assert len((out / "timings.jsonl").read_text().splitlines()) == 5


def test_an_interrupted_ab_writes_its_report_and_raises_the_alarm(tmp_path: Path) -> None:
    a, b = fake_build(tmp_path, "a", 0.1, pause=0.3), fake_build(tmp_path, "b", 0.1, pause=0.3)
    out = tmp_path / "ab"
    proc = subprocess.Popen([sys.executable, "-m", "fml_bench.cli", "ab", str(a), str(b), "underfit-logreg",
                             "--no-effects", "--rounds", "200", "--out", str(out)], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out / "timings.jsonl").is_file():
        time.sleep(0.2)
    time.sleep(1.5)
    os.kill(proc.pid, signal.SIGTERM)  # as a CI step's timeout does
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, stdout
    page = (out / "ab.md").read_text()
    assert "did not finish" in page and "mnist-logreg" in page


def test_the_history_follows_timings_of_ab_lines(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    for night, seconds in enumerate((0.10, 0.11, 0.10)):
        result = ABResult(builds={s: {"label": s, "python": s, "versions": {"tensorflow": f"2.{night}", "keras": "3"},
                                      "describe": s} for s in "ab"}, tier="fast", claims=[],
                          speed=[speed_change("mnist-logreg", [(0.1, seconds)] * 3, 0.99)])
        ab_page.append_history(result, history)
    series = {s.key: s for s in read_history(tmp_path)}
    times = series[f"mnist-logreg/{TIME_SERIES}"]
    assert times.effect == pytest.approx([0.10, 0.11, 0.10]) and times.versions[0] == "TF 2.0 / Keras 3"


@pytest.mark.parametrize("seeds, option", [((20,), ["--seeds", "20"]), ((10, 20, 40), ["--seeds", "10,20,40"]),
                                           (None, [])])
def test_an_ab_passes_every_look_of_its_seeds_to_both_sides(seeds, option):
    """CI: `fml-bench ab --seeds 20` raised IndexError once --seeds took any number of looks (the
    A/B still built its command from two)."""
    from fml_bench.ab import seeds_option

    assert seeds_option(seeds) == option
