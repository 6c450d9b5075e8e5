"""Comparing a run with a baseline run: verdict flips, effect drifts, benchmark slow-downs.

A drift is a paired t test between the two runs' per-seed effects of the same part over the
seeds they share (Welch's t when they share none), Holm-corrected over all parts compared;
a slow-down follows asv's rule: slower by more than `factor` and, where both runs kept their
rounds, a Mann-Whitney test over the rounds agrees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps
from tabulate import tabulate

from fml_bench.errors import FmlBenchError
from fml_bench.stats import holm


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
    compared: int = 0  # claims and benchmarks present in both runs

    @property
    def comparable(self) -> bool:
        """False when the two runs share no claim (claim, tier, engine) and no benchmark."""
        return self.compared > 0

    @property
    def regressions(self) -> list[Finding]:
        return [f for f in self.findings if f.regression]


def _per_seed_effect(part: dict) -> np.ndarray:
    a = np.asarray(part["values_a"], float)
    return a - np.asarray(part["values_b"], float) if part.get("values_b") is not None else a


def _key(c: dict) -> tuple[str, str, str, str]:
    return c["claim_id"], c["tier"], c.get("engine", ""), c.get("knockout", "")


def _seeds(c: dict) -> list[int]:
    return list(range(c.get("first_seed", 0), c.get("first_seed", 0) + c["seeds"]))


def _drift_p(base_claim: dict, cur_claim: dict, x: np.ndarray, y: np.ndarray) -> tuple[float, str]:
    """Paired t over the seeds both runs share (the same seed gives the same data and initial
    weights, so pairing removes that variance), else Welch's t."""
    base_seeds, cur_seeds = _seeds(base_claim), _seeds(cur_claim)
    shared = sorted(set(base_seeds) & set(cur_seeds))
    if len(shared) >= 3:
        xi = x[[base_seeds.index(s) for s in shared]]
        yi = y[[cur_seeds.index(s) for s in shared]]
        if np.ptp(yi - xi) == 0:
            return (1.0 if np.all(yi == xi) else 0.0), f"paired over {len(shared)} seeds, no spread"
        return float(sps.ttest_rel(yi, xi).pvalue), f"paired t over {len(shared)} seeds"
    return float(sps.ttest_ind(y, x, equal_var=False).pvalue), "Welch t"


def compare_claims(baseline: dict, current: dict, alpha: float = 0.01) -> list[Finding]:
    """Flips, drifts and unmatched claims. Runs are matched on (claim, tier, engine, knock-out);
    parts on their id; a note says when seeds or the level differ. A flip to *fail* is a
    regression; a flip to *inconclusive* is a warning (rerun to confirm). Drifts are decided at
    `alpha` after Holm's correction over every part compared."""
    base = {_key(c): c for c in baseline["claims"]}
    findings = []
    drifts = []
    for c in current["claims"]:
        key = _key(c)
        subject = f"{c['claim_id']} ({c['tier']}, {c.get('engine', '?')}{', knock-out' if key[3] else ''})"
        if key not in base:
            findings.append(Finding("new", subject, f"no baseline; now {c['verdict']}", False))
            continue
        b = base[key]
        notes = []
        if b["seeds"] != c["seeds"] or b.get("first_seed", 0) != c.get("first_seed", 0):
            notes.append(f"seeds differ: {b['seeds']} from {b.get('first_seed', 0)} vs "
                         f"{c['seeds']} from {c.get('first_seed', 0)}")
        if b.get("level") is not None and c.get("level") is not None and not np.isclose(b["level"], c["level"]):
            notes.append(f"level differs: {b['level']:.3g} vs {c['level']:.3g}")
        if b["verdict"] != c["verdict"]:
            regression = c["verdict"] == "fail" and not key[3]
            detail = f"{b['verdict']} -> {c['verdict']}"
            if c["verdict"] == "inconclusive":
                detail += " (a warning: rerun on new seeds to confirm before calling it a regression)"
            findings.append(Finding("flip", subject, "; ".join([detail, *notes]), regression=regression))
        base_parts = {p.get("part_id", str(i)): p for i, p in enumerate(b["parts"])}
        for i, cp in enumerate(c["parts"]):
            bp = base_parts.get(cp.get("part_id", str(i)))
            if bp is None:
                continue
            x, y = _per_seed_effect(bp), _per_seed_effect(cp)
            if len(x) < 2 or len(y) < 2 or (np.ptp(x) == 0 and np.ptp(y) == 0):
                continue
            p, how = _drift_p(b, c, x, y)
            drifts.append((p, f"{subject}: {cp['says']}",
                           f"{cp['metric']} effect {x.mean():+.4g} -> {y.mean():+.4g} ({how})"))
    adjusted = list(holm([d[0] for d in drifts])) if drifts else []
    for (p, subject, detail), p_holm in zip(drifts, adjusted):
        if p_holm < alpha:
            findings.append(Finding("drift", subject, f"{detail}, p={p:.2g}, Holm p={p_holm:.2g}", False))
    selection = current.get("selection")
    for key in sorted(base.keys() - {_key(c) for c in current["claims"]}):
        left_out = selection is not None and key[0] not in selection  # the run named other claims
        detail = ("in the baseline; this run was restricted to other claims" if left_out else
                  "in the baseline, not in this run" + ("" if current.get("complete", True) else
                                                         " (the run is incomplete)"))
        findings.append(Finding("missing", f"{key[0]} ({key[1]}, {key[2]})", detail, regression=not left_out))
    return findings


def check_same_tier(baseline: dict, current: dict) -> None:
    """A ComparisonError when the two documents share no tier: comparing them says nothing, and a
    baseline that compares with nothing would switch the regression gate off."""
    base = {c["tier"] for c in baseline.get("claims", [])}
    now = {c["tier"] for c in current.get("claims", [])}
    if base and now and not base & now:
        raise ComparisonError(f"the baseline {baseline.get('run_id', '?')} is of tier {', '.join(sorted(base))} and "
                              f"this run of {', '.join(sorted(now))}: compare runs of one tier")


class ComparisonError(FmlBenchError):
    """Two runs that cannot be compared."""


MACHINE_KEYS = ("brand_raw", "count", "arch")  # of pytest-benchmark's machine_info["cpu"]


def machine(doc: dict) -> dict:
    """The CPU that produced a pytest-benchmark document (empty when it was not recorded)."""
    cpu = (doc.get("machine_info") or {}).get("cpu") or {}
    return {k: cpu.get(k) for k in MACHINE_KEYS if cpu.get(k) is not None}


def compare_benchmarks(baseline: dict, current: dict, factor: float = 1.2, alpha: float = 0.01) -> list[Finding]:
    """pytest-benchmark JSON documents: slower by > factor (and Mann-Whitney, if rounds kept).

    Timings are judged only between like machines (same CPU model, count and architecture);
    hosted CI runners vary, and a slower CPU is not a slower TensorFlow. Between unlike machines
    one finding says so and no slow-down is counted."""
    base = {b["fullname"]: b for b in baseline.get("benchmarks", [])}
    findings = []
    before, now = machine(baseline), machine(current)
    if before and now and before != now and base and current.get("benchmarks"):
        detail = ", ".join(f"{k} {before.get(k)} -> {now.get(k)}" for k in MACHINE_KEYS if before.get(k) != now.get(k))
        return [Finding("machine", "timing benchmarks", f"not compared: another machine ({detail})", False)]
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
    check_same_tier(baseline, current)
    findings = compare_claims(baseline, current)
    base_bench, cur_bench = baseline.get("benchmarks") or {}, current.get("benchmarks") or {}
    findings += compare_benchmarks(base_bench, cur_bench, factor)
    shared_claims = {_key(c) for c in baseline["claims"]} & {_key(c) for c in current["claims"]}
    shared_benchmarks = ({b["fullname"] for b in base_bench.get("benchmarks", [])}
                         & {b["fullname"] for b in cur_bench.get("benchmarks", [])})
    return Comparison(baseline["run_id"], current["run_id"], findings, len(shared_claims) + len(shared_benchmarks))


def render(comparison: Comparison) -> str:
    """The report section: a table of findings, or a line saying nothing changed."""
    head = f"## Compared with {comparison.baseline_id}"
    if not comparison.comparable:
        return f"{head}\n\nNothing to compare: the runs share no claim (claim, tier, engine) and no benchmark."
    if not comparison.findings:
        return f"{head}\n\nNo verdict flipped, no effect drifted, no benchmark slowed down."
    rows = [[f.kind, "yes" if f.regression else "", f.subject, f.detail] for f in comparison.findings]
    return f"{head}\n\n" + tabulate(rows, headers=["finding", "regression", "what", "detail"], tablefmt="github")
