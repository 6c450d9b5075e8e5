"""Writing one run's report folder: results.json, figures, report.md, the `latest` pointer,
and a line in the history file."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from fml_bench.env import manifest
from fml_bench.report import compare as cmp
from fml_bench.report import figures, markdown, results
from fml_bench.verdicts import ClaimResult

HISTORY_FILE = "history.jsonl"


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def render_folder(folder: Path, doc: dict, baseline: dict | None = None) -> list[cmp.Finding]:
    """(Re)generate figures and report.md in `folder` from `doc`; returns regressions."""
    figure_names = {}
    for claim in doc["claims"]:
        if claim["curves"]:
            figure_names[markdown.figure_key(claim)] = figures.plot_claim(claim, folder).name
    comparison = cmp.compare(baseline, doc) if baseline else None
    text = markdown.render(doc, figure_names, cmp.render(comparison) if comparison else None)
    (folder / "report.md").write_text(text)
    return comparison.regressions if comparison else []


def _benchmarks(folder: Path) -> dict:
    path = folder / "benchmarks.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def attach_benchmarks(folder: Path, doc: dict) -> dict:
    """Fold the folder's pytest-benchmark JSON (if any) into results.json, rewriting it."""
    benchmarks = _benchmarks(folder)
    if benchmarks and benchmarks != doc.get("benchmarks"):
        doc = {**doc, "benchmarks": benchmarks}
        tmp = folder / "results.json.tmp"
        tmp.write_text(json.dumps(doc, indent=1))
        tmp.replace(folder / "results.json")
    return doc


def write_run_report(claim_results: list[ClaimResult], reports_root: Path,
                     baseline: str | os.PathLike | None = None, run_id: str | None = None) -> tuple[Path, list]:
    """Write reports/<run-id>/ and point reports/latest at it; returns (folder, regressions)."""
    run_id = run_id or new_run_id()
    folder = Path(reports_root) / run_id
    folder.mkdir(parents=True, exist_ok=True)
    doc = results.build_document(claim_results, manifest(), run_id, _benchmarks(folder))
    tmp = folder / "results.json.tmp"
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(folder / "results.json")
    base_doc = results.load(Path(baseline)) if baseline else None
    regressions = render_folder(folder, doc, base_doc)
    point_latest(Path(reports_root), folder)
    append_history(Path(reports_root), doc)
    return folder, regressions


def point_latest(root: Path, folder: Path) -> None:
    """reports/latest -> the newest run (a relative symlink, replaced atomically)."""
    link = root / "latest"
    tmp = root / ".latest.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(folder.name, target_is_directory=True)
    os.replace(tmp, link)


def append_history(root: Path, doc: dict) -> None:
    """One line per run: verdicts and main effects, for trends without re-reading reports."""
    line = {
        "run_id": doc["run_id"], "created": doc["created"], "git_commit": doc["env"].get("git_commit"),
        "tensorflow": doc["env"].get("tensorflow"), "keras": doc["env"].get("keras"),
        "claims": {f"{c['claim_id']}/{c['tier']}": {"verdict": c["verdict"], "p": c["p"],
                                                     "effect": c["parts"][0]["estimate"]}
                   for c in doc["claims"] if not c.get("knockout")},
    }
    with open(root / HISTORY_FILE, "a") as fh:
        fh.write(json.dumps(line) + "\n")
