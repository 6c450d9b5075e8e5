"""Writing one run's report folder: results.json, figures, report.md, the `latest` pointer,
and a line in the history file."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
from pathlib import Path

from fml_bench import atomic
from fml_bench.env import manifest
from fml_bench.errors import ReportWriteError, os_error_line
from fml_bench.report import compare as cmp
from fml_bench.report import figures, markdown, results
from fml_bench.report.claim_results import ClaimResult

HISTORY_FILE = "history.jsonl"


def check_reports_root(root: Path) -> None:
    """A ReportWriteError now, before any training, if reports cannot be written under `root`."""
    try:
        atomic.probe_writable(root)
    except OSError as exc:
        raise ReportWriteError(f"cannot write reports to {root}: {os_error_line(exc)} "
                               "(--report-dir / $FML_BENCH_REPORTS choose another)") from exc


def new_run_id() -> str:
    """`<UTC time>-<pid>-<8 random hex>`: two runs started in the same second get two folders
    (4 hex digits collided once in 50 ids of one process about 2% of the time: the birthday bound)."""
    return f"{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}-{os.getpid()}-{secrets.token_hex(4)}"


def render_folder(folder: Path, doc: dict, baseline: dict | None = None,
                  plotted: dict[str, str] | None = None) -> list[cmp.Finding]:
    """(Re)generate figures and report.md in `folder` from `doc`; returns regressions.

    `plotted` (a claim's content digest -> its figure's file name) keeps the figures already
    drawn into `folder` across calls: a report rewritten as each claim finishes draws each
    figure once, not every figure again at every claim (32 claims and knock-outs in CI: 528
    figures of about 0.4 s each, in the process that hands tests to the workers)."""
    plotted = {} if plotted is None else plotted
    figure_names = {}
    for claim in doc["claims"]:
        if claim["curves"]:
            digest = _digest(claim)
            if digest not in plotted or not (folder / plotted[digest]).is_file():
                plotted[digest] = figures.plot_claim(claim, folder).name
            figure_names[markdown.figure_key(claim)] = plotted[digest]
    comparison = cmp.compare(baseline, doc) if baseline else None
    text = markdown.render(doc, figure_names, cmp.render(comparison) if comparison else None)
    (folder / "report.md").write_text(text)
    return comparison.regressions if comparison else []


def _digest(claim: dict) -> str:
    """What a claim's figure is drawn from: all of its result (the title carries its verdict)."""
    return hashlib.sha256(json.dumps(claim, sort_keys=True, default=str).encode()).hexdigest()


def _benchmarks(folder: Path) -> dict:
    path = folder / "benchmarks.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def attach_benchmarks(folder: Path, doc: dict) -> dict:
    """Fold the folder's pytest-benchmark JSON (if any) into results.json, rewriting it."""
    benchmarks = _benchmarks(folder)
    if benchmarks and benchmarks != doc.get("benchmarks"):
        doc = {**doc, "benchmarks": benchmarks}
        atomic.write_text(folder / "results.json", json.dumps(doc, indent=1))
    return doc


class RunReport:
    """One run's report folder, rewritten as each claim finishes.

    Created before any training: the baseline is read and validated first (a bad --baseline
    is refused before hours of work), and the run folder is claimed (a unique run id; `mkdir`
    without exist_ok, so two processes never share one). `add` rewrites results.json and
    report.md with the claims finished so far, marked incomplete; `finish` writes the final
    version, points `latest` at it and appends to the history. A run that is killed leaves the
    report of what finished, saying it is incomplete.
    """

    def __init__(self, reports_root: Path | str, baseline: str | os.PathLike | None = None,
                 planned: int | None = None, run_id: str | None = None, selection: list[str] | None = None):
        self.root = Path(reports_root)
        self.baseline = results.load(Path(baseline)) if baseline else None
        self.planned = planned
        self.selection = selection  # the claim ids asked for, or None for every claim
        self.results: list[ClaimResult] = []
        self.errors: list[dict] = []
        check_reports_root(self.root)
        while True:
            self.run_id = run_id or new_run_id()
            self.folder = self.root / self.run_id
            try:
                self.folder.mkdir()
                break
            except FileExistsError:
                if run_id:
                    raise
        self.finished = False
        self._plotted: dict[str, str] = {}  # figures drawn so far (`render_folder`)

    def add(self, result: ClaimResult) -> None:
        """Record a finished claim and rewrite the (incomplete) report."""
        self.results.append(result)
        self._write(complete=False)

    def add_error(self, claim_id: str, tier: str, error: str) -> None:
        """Record a claim that could not be checked (a data error, for example)."""
        self.errors.append({"claim_id": claim_id, "tier": tier, "error": error})
        self._write(complete=False)

    def finish(self, complete: bool = True) -> list[cmp.Finding]:
        """Write the final report; returns the regressions against the baseline."""
        regressions = self._write(complete=complete)
        if self.results:
            append_history(self.root, self._doc(complete))
        self.finished = True
        return regressions

    def _doc(self, complete: bool) -> dict:
        doc = results.build_document(self.results, manifest(), self.run_id, _benchmarks(self.folder))
        doc["complete"] = complete
        doc["planned_claims"] = self.planned
        doc["selection"] = self.selection
        doc["errors"] = self.errors
        return doc

    def _write(self, complete: bool) -> list[cmp.Finding]:
        doc = self._doc(complete)
        atomic.write_text(self.folder / "results.json", json.dumps(doc, indent=1))
        regressions = render_folder(self.folder, doc, self.baseline, self._plotted)
        point_latest(self.root, self.folder)  # even a run killed outright leaves `latest` on what it finished
        return regressions


def write_run_report(claim_results: list[ClaimResult], reports_root: Path,
                     baseline: str | os.PathLike | None = None, run_id: str | None = None) -> tuple[Path, list]:
    """Write reports/<run-id>/ at once and point reports/latest at it; returns (folder, regressions)."""
    report = RunReport(reports_root, baseline, planned=len(claim_results), run_id=run_id)
    report.results = list(claim_results)
    return report.folder, report.finish()


def point_latest(root: Path, folder: Path) -> None:
    """reports/latest -> the newest run (a relative symlink, replaced atomically)."""
    atomic.replace_symlink(root / "latest", folder.name)


def append_history(root: Path, doc: dict) -> None:
    """One line per run: verdicts and main effects, for trends without re-reading reports."""
    append_history_line(root / HISTORY_FILE, history_line(doc))


def append_history_line(path: Path, line: dict) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(line) + "\n")


def history_line(doc: dict) -> dict:
    """A results document's line of the history: versions, per claim its verdict and main effect."""
    return {
        "run_id": doc["run_id"], "created": doc["created"], "git_commit": doc["env"].get("git_commit"),
        "tensorflow": doc["env"].get("tensorflow"), "keras": doc["env"].get("keras"),
        "keras_backend": doc["env"].get("keras_backend"),
        "claims": {f"{c['claim_id']}/{c['tier']}": {"verdict": c["verdict"], "p": c["p"],
                                                     "effect": c["parts"][0]["estimate"],
                                                     "ci_low": c["parts"][0]["ci_low"],
                                                     "ci_high": c["parts"][0]["ci_high"]}
                   for c in doc["claims"] if not c.get("knockout")},
    }
