"""History across runs: per claim, the main effect with its interval over nights and versions,
change points found by `ruptures`, and a markdown page with one figure per claim.

Input: `history.jsonl` in a reports folder (one line per run, written with every report, and by
`fml-bench ab --history`, whose lines add each experiment's seconds per epoch: the series
`<experiment>/seconds-per-epoch`), and each run's `results.json` where it is still there (for the
interval when the line lacks it).
A change point is where the mean of the effect series shifts and stays shifted for at least two
runs: ruptures' PELT search with a least-squares cost, segments of two runs or more, and a
penalty of 6·log(n)·sigma² (sigma estimated from the median absolute difference of neighbouring
runs, so night-to-night noise alone rarely splits). Simulated on Gaussian noise (900 series of 6,
12 and 30 runs) it flags 3.7% of series with no shift, and finds a shift of 3 sigma in the middle
of 12 runs 57% of the time (larger shifts nearly always): a flag to look at, not a verdict.
"""

from __future__ import annotations

import html
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fml_bench.errors import FmlBenchError
from fml_bench.paths import safe_file_name
from fml_bench.report.run import HISTORY_FILE

PAGE = "history.md"
TIME_SERIES = "seconds-per-epoch"
MIN_RUNS_FOR_CHANGE_POINTS = 4
PENALTY_FACTOR = 6.0
MIN_SEGMENT = 2


@dataclass
class Series:
    """One claim (in one tier) over runs, oldest first."""

    key: str  # "<claim>/<tier>"
    run_ids: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)  # "TF x / Keras y"
    effect: list[float] = field(default_factory=list)
    low: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    change_points: list[int] = field(default_factory=list)  # indices where a new segment starts


def _num(value) -> float:
    return float("nan") if value is None else float(value)


def read_history(reports: Path) -> list[Series]:
    """Every claim's series from `reports/history.jsonl` (a FmlBenchError if there is none)."""
    path = Path(reports) / HISTORY_FILE
    if not path.is_file():
        raise FmlBenchError(f"no {HISTORY_FILE} in {reports}: every report appends to it; run `fml-bench check` "
                            "(or point at the folder the nightly artifacts were unpacked into)")
    series: dict[str, Series] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            run = json.loads(line)
        except json.JSONDecodeError:
            raise FmlBenchError(f"{path}:{number} is not a JSON line; remove or repair it") from None
        intervals = _intervals_from_results(Path(reports) / run["run_id"] / "results.json")
        version = f"TF {run.get('tensorflow', '?')} / Keras {run.get('keras', '?')}"
        if run.get("keras_backend") not in (None, "tensorflow"):
            version += f" ({run['keras_backend']})"
        for key, claim in run["claims"].items():
            s = series.setdefault(key, Series(key))
            low, high = claim.get("ci_low"), claim.get("ci_high")
            if low is None and key in intervals:
                low, high = intervals[key]
            s.run_ids.append(run["run_id"])
            s.versions.append(version)
            s.effect.append(_num(claim.get("effect")))
            s.low.append(_num(low))
            s.high.append(_num(high))
            s.verdicts.append(claim.get("verdict", "?"))
        for experiment, timing in run.get("timings", {}).items():  # lines written by `fml-bench ab`
            s = series.setdefault(f"{experiment}/{TIME_SERIES}", Series(f"{experiment}/{TIME_SERIES}"))
            s.run_ids.append(run["run_id"])
            s.versions.append(version)
            s.effect.append(_num(timing.get("seconds")))
            s.low.append(float("nan"))
            s.high.append(float("nan"))
            s.verdicts.append(f"{timing.get('verdict', '?')} ({_num(timing.get('ratio')):.2f}x)")
    for s in series.values():
        s.change_points = change_points(np.asarray(s.effect, float))
    return [series[k] for k in sorted(series)]


def _intervals_from_results(path: Path) -> dict[str, tuple[float, float]]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {f"{c['claim_id']}/{c['tier']}": (_num(c["parts"][0].get("ci_low")), _num(c["parts"][0].get("ci_high")))
            for c in doc.get("claims", []) if not c.get("knockout") and c.get("parts")}


def change_points(effect: np.ndarray) -> list[int]:
    """Indices where the mean of `effect` shifts (ruptures PELT, least squares); [] when short."""
    values = effect[np.isfinite(effect)]
    if len(values) < MIN_RUNS_FOR_CHANGE_POINTS or len(values) != len(effect):
        return []
    import ruptures

    diffs = np.abs(np.diff(values))
    sigma = float(np.median(diffs)) / (0.6745 * math.sqrt(2)) if len(diffs) else 0.0
    scale = max(sigma, 1e-6 * max(1.0, float(np.abs(values).max())))
    penalty = PENALTY_FACTOR * math.log(len(values)) * scale**2
    ends = ruptures.Pelt(model="l2", min_size=MIN_SEGMENT, jump=1).fit(values.reshape(-1, 1)).predict(pen=penalty)
    return [e for e in ends if e < len(values)]


def plot_series(s: Series, folder: Path) -> Path:
    """`history-<claim>-<tier>.png`: effect and interval per run, versions on the axis, change
    points as vertical lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(len(s.effect))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(x) + 2), 3.2))
    effect, low, high = (np.asarray(v, float) for v in (s.effect, s.low, s.high))
    has_ci = np.isfinite(low) & np.isfinite(high)
    ax.errorbar(x[has_ci], effect[has_ci], yerr=[effect[has_ci] - low[has_ci], high[has_ci] - effect[has_ci]],
                fmt="o", color="#1f77b4", capsize=3, label="effect, interval at the claim's level")
    ax.plot(x[~has_ci], effect[~has_ci], "o", color="#1f77b4", mfc="white")
    for cp in s.change_points:
        ax.axvline(cp - 0.5, color="#d62728", linestyle="--", label="change point")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xticks(x, [f"{r[:8]}\n{v}" for r, v in zip(s.run_ids, s.versions)], fontsize=6, rotation=30, ha="right")
    ax.set_title(s.key, fontsize=9)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=7)
    fig.tight_layout()
    path = folder / safe_file_name(f"history-{s.key.replace('/', '-')}.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def render_page(series: list[Series], figures: dict[str, str]) -> str:
    """The markdown page: a table of claims with their last verdict and change points, then figures."""
    from tabulate import tabulate

    rows = []
    for s in series:
        shifts = ", ".join(f"before run {s.run_ids[i]} ({s.versions[i - 1]} -> {s.versions[i]}): "
                           f"{np.mean(s.effect[:i]):+.3g} -> {np.mean(s.effect[i:]):+.3g}"
                           for i in s.change_points) or "none"
        rows.append([s.key, len(s.effect), s.verdicts[-1], f"{s.effect[-1]:+.4g}", shifts])
    out = ["# fml-bench history", "",
           "Each claim's main effect (first part) with its interval (each tail at the claim's level; 95% in "
           "documents before 2026-12) over runs, oldest first. Change points: "
           f"ruptures PELT (least squares, segments of {MIN_SEGMENT}+ runs) with a penalty of "
           f"{PENALTY_FACTOR:g} log(n) sigma^2, sigma from the run-to-run differences; series shorter than "
           f"{MIN_RUNS_FOR_CHANGE_POINTS} runs are not searched. On pure noise about 4% of series get a "
           "change point: a flag to look at, not a verdict.", "",
           tabulate(rows, headers=["claim/tier", "runs", "last verdict", "last effect", "change points"],
                    tablefmt="github"), ""]
    for s in series:
        if s.key in figures:
            out += [f"## {s.key}", "", f"![{s.key}]({figures[s.key]})", ""]
    return "\n".join(out)


def write_history(reports: Path, out: Path | None = None, ab_folder: Path | None = None) -> Path:
    """Read `reports`' history, write `history.md` and its figures into `out` (default: `reports`),
    and `index.html` (the page a static host such as GitHub Pages serves): tonight's A/B report
    from `ab_folder` when given, then the history, figures inline."""
    folder = Path(out or reports)
    folder.mkdir(parents=True, exist_ok=True)
    series = read_history(Path(reports))
    figures = {s.key: plot_series(s, folder).name for s in series}
    page = folder / PAGE
    page.write_text(render_page(series, figures))
    sections = []
    if ab_folder is not None and (Path(ab_folder) / "ab.md").is_file():
        for name in ("ab.md", "ab.png", "ab.json"):
            if (Path(ab_folder) / name).is_file():
                shutil.copyfile(Path(ab_folder) / name, folder / name)
        sections.append(("Tonight's A/B", (folder / "ab.md").read_text(), ["ab.png"]))
    sections.append(("History", page.read_text(), [figures[s.key] for s in series]))
    (folder / "index.html").write_text(render_html(sections))
    return page


def render_html(sections: list[tuple[str, str, list[str]]]) -> str:
    """A static page: each section's markdown as preformatted text, then its figures."""
    body = []
    for title, text, images in sections:
        body.append(f"<h1>{html.escape(title)}</h1>\n<pre>{html.escape(text)}</pre>")
        body += [f'<p><img src="{html.escape(name)}" alt="{html.escape(name)}"></p>' for name in images]
    return ("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>fml-bench nightly</title>"
            "<style>body{font-family:sans-serif;max-width:70em;margin:auto}pre{white-space:pre-wrap}"
            "img{max-width:100%}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
