"""Comparing a run with a baseline run: verdict flips, effect drifts, benchmark slow-downs.

A drift is a two-sample Welch test between the two runs' per-seed effects of the same part;
a slow-down follows asv's rule: slower by more than `factor` and, where both runs kept their
rounds, a Mann-Whitney test over the rounds agrees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps
from tabulate import tabulate


@dataclass(frozen=True)
class Finding:
    kind: str  # "flip", "drift", "slowdown", "speedup", "new", "missing"
    subject: str
    detail: str
    regression: bool


@dataclass(frozen=True)
class Comparison:
    baseline_id: str
    current_id: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def regressions(self) -> list[Finding]:
        return [f for f in self.findings if f.regression]


def _per_seed_effect(part: dict) -> np.ndarray:
    a = np.asarray(part["values_a"], float)
    return a - np.asarray(part["values_b"], float) if part.get("values_b") is not None else a


def compare_claims(baseline: dict, current: dict, alpha: float = 0.01) -> list[Finding]:
    base = {(c["claim_id"], c["tier"]): c for c in baseline["claims"]}
    findings = []
    for c in current["claims"]:
        key = (c["claim_id"], c["tier"])
        subject = f"{c['claim_id']} ({c['tier']})"
        if key not in base:
            findings.append(Finding("new", subject, f"no baseline; now {c['verdict']}", False))
            continue
        b = base[key]
        if b["verdict"] != c["verdict"]:
            findings.append(Finding("flip", subject, f"{b['verdict']} -> {c['verdict']}",
                                    regression=b["verdict"] == "pass"))
        for bp, cp in zip(b["parts"], c["parts"]):
            x, y = _per_seed_effect(bp), _per_seed_effect(cp)
            if len(x) < 2 or len(y) < 2 or (np.ptp(x) == 0 and np.ptp(y) == 0):
                continue
            p = float(sps.ttest_ind(y, x, equal_var=False).pvalue)
            if p < alpha:
                findings.append(Finding(
                    "drift", f"{subject}: {cp['says']}",
                    f"{cp['metric']} effect {x.mean():+.4g} -> {y.mean():+.4g} (Welch p={p:.2g})", False))
    for key in base.keys() - {(c["claim_id"], c["tier"]) for c in current["claims"]}:
        findings.append(Finding("missing", f"{key[0]} ({key[1]})", "in the baseline, not in this run", False))
    return findings


def compare_benchmarks(baseline: dict, current: dict, factor: float = 1.2, alpha: float = 0.01) -> list[Finding]:
    """pytest-benchmark JSON documents: slower by > factor (and Mann-Whitney, if rounds kept)."""
    base = {b["fullname"]: b for b in baseline.get("benchmarks", [])}
    findings = []
    for bench in current.get("benchmarks", []):
        old = base.get(bench["fullname"])
        if old is None:
            continue
        ratio = bench["stats"]["median"] / old["stats"]["median"]
        p = float("nan")
        if old["stats"].get("data") and bench["stats"].get("data"):
            p = float(sps.mannwhitneyu(bench["stats"]["data"], old["stats"]["data"], alternative="two-sided").pvalue)
        confirmed = np.isnan(p) or p < alpha
        if ratio > factor and confirmed:
            findings.append(Finding("slowdown", bench["name"], f"median x{ratio:.2f} (p={p:.2g})", True))
        elif ratio < 1 / factor and confirmed:
            findings.append(Finding("speedup", bench["name"], f"median x{ratio:.2f} (p={p:.2g})", False))
    return findings


def compare(baseline: dict, current: dict, factor: float = 1.2) -> Comparison:
    """All findings between two results documents (their `benchmarks` fields included)."""
    findings = compare_claims(baseline, current)
    findings += compare_benchmarks(baseline.get("benchmarks") or {}, current.get("benchmarks") or {}, factor)
    return Comparison(baseline["run_id"], current["run_id"], findings)


def render(comparison: Comparison) -> str:
    """The report section: a table of findings, or a line saying nothing changed."""
    head = f"## Compared with {comparison.baseline_id}"
    if not comparison.findings:
        return f"{head}\n\nNo verdict flipped, no effect drifted, no benchmark slowed down."
    rows = [[f.kind, "yes" if f.regression else "", f.subject, f.detail] for f in comparison.findings]
    return f"{head}\n\n" + tabulate(rows, headers=["finding", "regression", "what", "detail"], tablefmt="github")
