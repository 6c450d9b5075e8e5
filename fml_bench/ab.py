"""The A/B of two framework builds on one machine: the same claims at the same seeds under both
(effects compared seed by seed), every experiment's epochs timed in child processes that
alternate between the builds (speed), and one report (ab.md, ab.json, ab.png).

Everything lands in the A/B's folder as it is made: each build's run store and report (a rerun
reuses the seeds already trained), and each timing round in `timings.jsonl` (a rerun continues
from the rounds already measured for the same builds and experiments). See `ab_stats` for the
rules.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fml_bench import ab_stats
from fml_bench.builds import Build
from fml_bench.claims import get_claim
from fml_bench.errors import FmlBenchError

SIDES = ("a", "b")
TIMING_MARK = "FML_BENCH_TIMING "
INTERRUPTED = "INTERRUPTED"


@dataclass(frozen=True)
class ABResult:
    builds: dict[str, dict]
    tier: str
    claims: list[str]
    flips: list[ab_stats.VerdictFlip] = field(default_factory=list)
    parts: list[ab_stats.PartChange] = field(default_factory=list)
    speed: list[ab_stats.SpeedChange] = field(default_factory=list)
    verdicts: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: B's results document (for the history), when B's claims ran
    results_b: dict | None = None

    @property
    def alarms(self) -> list[str]:
        """What a maintainer must hear about: a flip to fail, a change away from the book, a slow-down."""
        out = [f"{f.claim_id}: {f.verdict_a} -> {f.verdict_b}" for f in self.flips if f.alarm]
        out += [f"{p.claim_id}/{p.part_id}: changed {p.direction} ({p.delta:+.4g}, tolerance {p.tolerance:.3g})"
                for p in self.parts if p.alarm]
        out += [f"{s.experiment}: {s.ratio:.2f}x slower [{s.ratio_low:.2f}, {s.ratio_high:.2f}]"
                for s in self.speed if s.alarm]
        if self.interrupted:
            out.append("the A/B did not finish (a signal or its time budget): the report holds what finished; "
                       "a whole run that got much slower ends this way too")
        return out

    @property
    def interrupted(self) -> bool:
        return any(n.startswith(INTERRUPTED) for n in self.notes)

    def to_dict(self) -> dict:
        return {"builds": self.builds, "tier": self.tier, "claims": self.claims, "verdicts": self.verdicts,
                "flips": [asdict(f) | {"alarm": f.alarm} for f in self.flips],
                "parts": [asdict(p) | {"alarm": p.alarm} for p in self.parts],
                "speed": [asdict(s) | {"alarm": s.alarm} for s in self.speed],
                "notes": self.notes, "alarms": self.alarms, "interrupted": self.interrupted}


class ABError(FmlBenchError):
    """A side of the A/B could not run."""


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FML_BENCH_STORE", "FML_BENCH_REPORTS")}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def build_key(build: Build) -> str:
    """A folder name for what a build is: its interpreter and versions. Two builds that report the
    same versions (a patched Keras, a wrapper interpreter) must not share a run store, whose
    fingerprints only see versions."""
    blob = json.dumps([str(build.python), sorted(build.versions.items())])
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def seeds_option(seeds: tuple[int, ...] | None) -> list[str]:
    """`--seeds` for a side's `fml-bench check`: the looks' seed counts as given, one or more."""
    return ["--seeds", ",".join(str(n) for n in seeds)] if seeds else []


def run_claims(build: Build, side_dir: Path, tier: str, claims: Sequence[str], engine: str | None,
               log: Callable[[str], None], seeds: tuple[int, ...] | None = None) -> dict:
    """`fml-bench check` of `claims` inside `build`; its results document. The build's store is
    `side_dir/store-<build key>`, reused when the A/B is rerun with the same build. `seeds`
    (the looks' seed counts) overrides the claims' plans: they are powered for verdicts, and seeing a change of
    an effect between builds may need more."""
    reports = side_dir / "reports"
    store = side_dir / f"store-{build_key(build)}"
    cmd = [str(build.python), "-m", "fml_bench.cli", "check", "--tier", tier, "--store-dir", str(store),
           "--report-dir", str(reports), *(["--engine", engine] if engine else []),
           *seeds_option(seeds), *claims]
    log(f"[{side_dir.name}] {build.describe()}: checking {len(claims)} claim(s) at the {tier} tier")
    with open(side_dir / "check.log", "a") as out:
        code = run_child(cmd, out)
    if code not in (0, 1):  # 1: a claim failed, which the comparison reports
        raise ABError(f"build {side_dir.name} ({build.label}): `fml-bench check` exited {code}; "
                      f"see {side_dir / 'check.log'}")
    doc = latest_results(side_dir)
    if doc is None:
        raise ABError(f"build {side_dir.name}: no results.json under {reports}; see {side_dir / 'check.log'}")
    return doc


def latest_results(side_dir: Path) -> dict | None:
    """The side's newest results document (complete, or what an interrupted check finished)."""
    results = side_dir / "reports" / "latest" / "results.json"
    return json.loads(results.read_text()) if results.is_file() else None


def run_child(cmd: list[str], out, grace_seconds: float = 600.0) -> int:
    """Run `cmd` in a session of its own (a signal to our process group does not reach it twice);
    on SIGINT/SIGTERM here, pass one SIGINT on and wait for it to write what it finished."""
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=_child_env(), start_new_session=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise


def compare_effects(doc_a: dict, doc_b: dict, tier: str, alpha: float = ab_stats.DEFAULT_ALPHA
                    ) -> tuple[list[ab_stats.VerdictFlip], list[ab_stats.PartChange], list[str]]:
    """Verdict flips and per-part changes between two results documents of the same claims."""
    by_id = {side: {c["claim_id"]: c for c in doc["claims"] if not c.get("knockout")}
             for side, doc in zip(SIDES, (doc_a, doc_b))}
    common = [cid for cid in by_id["a"] if cid in by_id["b"]]
    notes = [f"{cid}: only in build {side}" for side in SIDES for cid in by_id[side] if cid not in common]
    pairs = []
    for cid in common:
        claim = get_claim(cid)
        ca, cb = by_id["a"][cid], by_id["b"][cid]
        seeds_a = list(range(ca["first_seed"], ca["first_seed"] + ca["seeds"]))
        seeds_b = list(range(cb["first_seed"], cb["first_seed"] + cb["seeds"]))
        shared = [s for s in seeds_a if s in seeds_b]
        if len(shared) < 3:
            notes.append(f"{cid}: fewer than 3 common seeds ({len(shared)}); not compared")
            continue
        parts_a = {p["part_id"]: p for p in ca["parts"]}
        parts_b = {p["part_id"]: p for p in cb["parts"]}
        for part in claim.parts:
            if part.id in parts_a and part.id in parts_b:
                pairs.append((cid, part, [_values(parts_a[part.id], seeds_a, shared),
                                          _values(parts_b[part.id], seeds_b, shared)]))
    confidence = 1 - alpha / max(len(pairs), 1)
    rng = np.random.default_rng(0)
    changes = [ab_stats.compare_part(part, cid, tier, va, vb, confidence, rng) for cid, part, (va, vb) in pairs]
    flips = [ab_stats.VerdictFlip(cid, by_id["a"][cid]["verdict"], by_id["b"][cid]["verdict"])
             for cid in common if by_id["a"][cid]["verdict"] != by_id["b"][cid]["verdict"]]
    return flips, changes, notes


def _values(part: dict, seeds: list[int], shared: list[int]) -> tuple[np.ndarray, np.ndarray | None]:
    rows = [seeds.index(s) for s in shared]
    a = np.asarray(part["values_a"], float)[rows]
    b = None if part.get("values_b") is None else np.asarray(part["values_b"], float)[rows]
    return a, b


def time_round(build: Build, tier: str, experiments: Sequence[str], epochs: int, engine: str) -> dict[str, float]:
    """One child process in `build`: seconds per epoch per experiment, the fastest epoch after the
    first (as timeit and pytest-benchmark take the minimum: interference from the rest of the
    machine only ever adds time, so the minimum is the steadiest estimate of what the build costs;
    on this 2-core machine the median of short epochs moved by 1.5x between rounds)."""
    cmd = [str(build.python), "-m", "fml_bench.timing_probe", "--tier", tier, "--epochs", str(epochs),
           "--engine", engine, *experiments]
    with tempfile.TemporaryFile("w+") as out:
        code = run_child(cmd, out, grace_seconds=5)
        out.seek(0)
        text = out.read()
    line = next((ln for ln in text.splitlines() if ln.startswith(TIMING_MARK)), None)
    if code != 0 or line is None:
        tail = "\n  ".join(text.strip().splitlines()[-5:])
        raise ABError(f"timing in {build.label} failed (exit {code}):\n  {tail}")
    seconds = json.loads(line[len(TIMING_MARK):])
    return {name: float(np.min(values)) for name, values in seconds.items()}


def measure_speed(builds: dict[str, Build], tier: str, experiments: Sequence[str], rounds: int, epochs: int,
                  engine: str, log_file: Path, log: Callable[[str], None]) -> dict[str, list[tuple[float, float]]]:
    """Alternating rounds (A then B, then B then A, ...), each appended to `log_file` as measured;
    rounds already in `log_file` for the same builds and experiments count."""
    key = {"a": str(builds["a"].python), "b": str(builds["b"].python), "experiments": sorted(experiments),
           "tier": tier, "epochs": epochs, "engine": engine}
    done = []
    if log_file.is_file():
        done = [r for r in map(json.loads, log_file.read_text().splitlines()) if r.get("key") == key]
    try:
        for r in range(len(done), rounds):
            order = SIDES if r % 2 == 0 else SIDES[::-1]
            seconds = {}
            started = time.monotonic()
            for side in order:
                seconds[side] = time_round(builds[side], tier, experiments, epochs, engine)
            row = {"key": key, "round": r, "order": "".join(order), "seconds": seconds}
            with open(log_file, "a") as out:
                out.write(json.dumps(row) + "\n")
            done.append(row)
            log(f"timing round {r + 1}/{rounds} ({''.join(order).upper()}) in {time.monotonic() - started:.0f} s")
    except KeyboardInterrupt:
        log(f"timing interrupted after {len(done)} complete round(s)")
        raise Interrupted(_rounds_of(done[:rounds], experiments)) from None
    return _rounds_of(done[:rounds], experiments)


class Interrupted(Exception):
    """Timing stopped by a signal; `rounds` holds what was measured."""

    def __init__(self, rounds: dict[str, list[tuple[float, float]]]):
        super().__init__("interrupted")
        self.rounds = rounds


def _rounds_of(rows: list[dict], experiments: Sequence[str]) -> dict[str, list[tuple[float, float]]]:
    return {name: [(row["seconds"]["a"][name], row["seconds"]["b"][name]) for row in rows] for name in experiments}


def experiments_of(claims: Sequence[str]) -> list[str]:
    names: list[str] = []
    for cid in claims:
        names += [n for n in get_claim(cid).experiments() if n not in names]
    return names


def run_ab(builds: dict[str, Build], tier: str, claims: Sequence[str], folder: Path, *, rounds: int = 8,
           epochs: int = 6, engine: str | None = None, timing_engine: str = "reference",
           timing_tier: str | None = None, effects: bool = True,
           speed: bool = True, alpha: float = ab_stats.DEFAULT_ALPHA, threshold: float = ab_stats.SLOWER_THRESHOLD,
           log: Callable[[str], None] = print, seeds: tuple[int, ...] | None = None) -> ABResult:
    """Run both sides and compare; the caller writes the report."""
    folder.mkdir(parents=True, exist_ok=True)
    info = {side: {"label": b.label, "python": str(b.python), "versions": b.versions, "describe": b.describe()}
            for side, b in builds.items()}
    flips: list[ab_stats.VerdictFlip] = []
    parts: list[ab_stats.PartChange] = []
    notes: list[str] = []
    verdicts: dict[str, dict[str, str]] = {}
    docs: dict[str, dict] = {}
    timed: dict[str, list[tuple[float, float]]] = {}
    experiments = experiments_of(claims)
    try:
        if effects:
            for side in SIDES:
                (folder / side).mkdir(exist_ok=True)
                docs[side] = run_claims(builds[side], folder / side, tier, claims, engine, log, seeds)
        else:  # effects already measured in this folder (an A/B rerun to time) are compared again
            docs = {side: found for side in SIDES if (found := latest_results(folder / side)) is not None}
        if speed:
            timed = measure_speed(builds, timing_tier or tier, experiments, rounds, epochs, timing_engine,
                                  folder / "timings.jsonl", log)
    except (KeyboardInterrupt, Interrupted) as stop:
        notes.append(f"{INTERRUPTED}: the report holds what finished before the signal")
        timed = stop.rounds if isinstance(stop, Interrupted) else timed
        for side in SIDES:
            found = docs.get(side) or latest_results(folder / side)
            if found is not None:
                docs[side] = found
    if len(docs) == 2:
        flips, parts, more = compare_effects(docs["a"], docs["b"], tier, alpha)
        notes += more
        verdicts = {c["claim_id"]: {side: next((d["verdict"] for d in docs[side]["claims"]
                                               if d["claim_id"] == c["claim_id"]), "") for side in SIDES}
                    for c in docs["a"]["claims"] if not c.get("knockout")}
    changes = []
    confidence = 1 - alpha / max(len(experiments), 1)
    for name in experiments:
        if len(timed.get(name, [])) >= 2:
            changes.append(ab_stats.speed_change(name, timed[name], confidence, threshold))
    return ABResult(builds=info, tier=tier, claims=list(claims), flips=flips, parts=parts, speed=changes,
                    verdicts=verdicts, notes=notes, results_b=docs.get("b"))

