"""Plan each claim's seeds from pilot runs: the smallest two-look design (n1, n2) at which
P(pass | the effect the pilots measured) >= 0.95 and P(fail | zero effect) >= 0.95.

    python benchmarks/plan_seeds.py --tier fast            # trains missing pilot seeds, writes the plans
    python benchmarks/plan_seeds.py --tier fast --dry-run  # prints the table only
    python benchmarks/plan_seeds.py --tier fast --knockouts  # the knock-outs' own designs

Pilot runs use seeds PILOT_FIRST_SEED.. (never the confirmatory ones). Each simulated world
draws seeds with replacement from the pilots, jointly for every part and arm of a claim (so the
correlations between arms and parts are the real ones), and pushes them through the claim's
own decision (`decide_part`, `combine`, `sequential_verdict`) at the claim's level:
- the pilot world: the values as measured;
- the zero world (what a knock-out leaves): each part's effect moved to zero. A difference
  part's arm a is shifted by its mean effect; a spread part's arm b rescaled to a's spread; a
  band part moved a band-width outside its band, on the side its pilot mean lies.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import sys
from pathlib import Path

import numpy as np
from scipy import stats as sps

from fml_bench import paths
from fml_bench.claims import CLAIMS, FAMILY_SIZE, Claim
from fml_bench.experiments import get_spec
from fml_bench.hypotheses import Kind, Part
from fml_bench.plans import KNOCKOUT_PILOT_FIRST_SEED, PILOT_FIRST_SEED, PLANS_FILE
from fml_bench.report.claim_results import FAIL, PASS
from fml_bench.runner import run_experiment
from fml_bench.stats import TwoStageDesign
from fml_bench.store import RunStore, write_atomically
from fml_bench.suite import dead_looks
from fml_bench.tiers import get_tier
from fml_bench.verdicts import combine, decide_part, fail_level, part_values, same_runs

CANDIDATES = ((5, 8), (5, 10), (6, 12), (8, 16), (10, 20), (12, 24), (16, 32), (32, 64), (64, 128), (128, 256),
              (256, 512))
TARGET = 0.95
KNOCKOUT_CANDIDATES = ((3, 5), (5, 8), (5, 10), (8, 16), (10, 20), (16, 32), (24, 48), (32, 64), (48, 96),
                       (64, 128), (128, 256))
KNOCKOUT_TARGET = 0.99
BOUND_CONFIDENCE = 0.95


def zero_world(part: Part, a: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The part's values with its effect moved to zero (see the module docstring)."""
    if part.kind is Kind.LESS_SPREAD:
        scale = np.std(a, ddof=1) / max(np.std(b, ddof=1), 1e-12)
        return a, np.mean(b) + (b - np.mean(b)) * scale
    diff = a - b if b is not None else a
    if part.kind is Kind.WITHIN:
        side = 1.0 if np.mean(diff) >= part.null else -1.0
        return a + (part.null + side * 2 * part.half_width - np.mean(diff)), b
    return a - (np.mean(diff) - part.null), b


def bound_world(part: Part, a: np.ndarray, b: np.ndarray | None, rng: np.random.Generator,
                boots: int = 2000) -> tuple[np.ndarray, np.ndarray | None]:
    """The values with the part's fail made as hard as the pilots' one-sided bound allows (see
    the module docstring)."""
    n = len(a)
    if part.kind is Kind.LESS_SPREAD:
        assert b is not None
        idx = rng.integers(0, n, (boots, n))
        ratios = np.log(np.std(a[idx], axis=1, ddof=1) / np.maximum(np.std(b[idx], axis=1, ddof=1), 1e-12))
        low = float(np.quantile(ratios, 1 - BOUND_CONFIDENCE))
        shrink = np.exp(low - np.log(np.std(a, ddof=1) / max(np.std(b, ddof=1), 1e-12)))
        return np.mean(a) + (a - np.mean(a)) * min(1.0, float(shrink)), b
    diff = a - b if b is not None else a
    half = float(sps.t.ppf(BOUND_CONFIDENCE, n - 1) * np.std(diff, ddof=1) / np.sqrt(n))
    if part.kind is Kind.WITHIN:
        offset = float(np.mean(diff)) - part.null
        return a - np.sign(offset) * min(half, abs(offset)), b
    return a + part.direction.sign * half, b


def simulate(claim: Claim, values: list[tuple[np.ndarray, np.ndarray | None]], tier: str, design: TwoStageDesign,
             worlds: int, rng: np.random.Generator, same: list[bool] | None = None) -> tuple[float, float]:
    """P(pass) and P(fail) over `worlds` bootstrap worlds (values: per part, the pilot (a, b);
    same: per part, whether its arms are the same runs)."""
    same = same or [False] * len(claim.parts)
    outcomes = {PASS: 0, FAIL: 0}
    n_pilot = len(values[0][0])
    for _ in range(worlds):
        idx = rng.integers(0, n_pilot, design.n2)
        verdict = None
        for n in sorted({design.n1, design.n2}):
            rows = idx[:n]
            fail_at = fail_level(design.level(n), len(claim.parts))
            parts = [decide_part(p, a[rows], None if b is None else b[rows], tier, design.level(n), interval=False,
                                 same_runs=s, fail_at=fail_at)
                     for p, (a, b), s in zip(claim.parts, values, same)]
            verdict, _ = combine(parts)
            if verdict != "inconclusive":
                break
        if verdict in outcomes:
            outcomes[verdict] += 1
    return outcomes[PASS] / worlds, outcomes[FAIL] / worlds


def plan_claim(claim: Claim, runs: dict, tier: str, alpha: float, worlds: int, seed: int,
               max_seeds: int = 32) -> dict:
    pilot = [part_values(p, runs) for p in claim.parts]
    zero = [zero_world(p, a, b) for p, (a, b) in zip(claim.parts, pilot)]
    figures = []
    for p, (a, b) in zip(claim.parts, pilot):
        diff = a - b if b is not None else a
        figure = {"part": p.id, "mean": float(np.mean(diff)), "sd": float(np.std(diff, ddof=1)),
                  "sesoi": p.sesoi_for(tier).value}
        if p.kind is Kind.LESS_SPREAD:  # the effect of a spread part is the log sd ratio, not the mean difference
            figure["log_sd_ratio"] = float(np.log(np.std(a, ddof=1) / np.std(b, ddof=1)))
            figure["correlation"] = float(np.corrcoef(a, b)[0, 1])
        figures.append(figure)
    chosen = None
    for n1, n2 in (c for c in CANDIDATES if c[1] <= max_seeds):
        design = TwoStageDesign(n1=n1, n2=n2, alpha=alpha / FAMILY_SIZE)
        if dead_looks(claim, design):  # a look that cannot decide a part spends its alpha for nothing
            continue
        p_pass, _ = simulate(claim, pilot, tier, design, worlds, np.random.default_rng(seed))
        _, p_fail = simulate(claim, zero, tier, design, worlds, np.random.default_rng(seed + 1))
        chosen = {"n1": n1, "n2": n2, "p_pass": round(p_pass, 3), "p_fail": round(p_fail, 3)}
        if p_pass >= TARGET and p_fail >= TARGET:
            break
    if chosen is None:
        raise SystemExit(f"{claim.id}: every candidate design up to {max_seeds} seeds has a look that cannot "
                         "decide a part; raise --max-seeds")
    met = chosen["p_pass"] >= TARGET and chosen["p_fail"] >= TARGET
    return {**chosen, "target_met": met, "pilot": figures}


def plan_knockout(claim: Claim, runs: dict, tier: str, alpha: float, worlds: int, seed: int,
                  max_seeds: int = 256) -> dict:
    """The smallest knock-out design with P(fail) >= KNOCKOUT_TARGET in the bound world, from
    `runs` of the knock-out's pilot seeds."""
    pilot = [part_values(p, runs) for p in claim.parts]
    same = [same_runs(p, runs) for p in claim.parts]
    rng = np.random.default_rng(seed)
    bound = [(a, b) if s else bound_world(p, a, b, rng) for p, (a, b), s in zip(claim.parts, pilot, same)]
    figures = []
    for p, (a, b), s in zip(claim.parts, pilot, same):
        diff = a - b if b is not None else a
        figure = {"part": p.id, "mean": float(np.mean(diff)), "sd": float(np.std(diff, ddof=1)),
                  "sesoi": p.sesoi_for(tier).value, "same_runs": s}
        if p.kind is Kind.LESS_SPREAD:
            figure["log_sd_ratio"] = float(np.log(np.std(a, ddof=1) / np.std(b, ddof=1)))
        figures.append(figure)
    chosen: dict = {}
    for n1, n2 in (c for c in KNOCKOUT_CANDIDATES if c[1] <= max_seeds):
        design = TwoStageDesign(n1=n1, n2=n2, alpha=alpha / FAMILY_SIZE)
        _, at_bound = simulate(claim, bound, tier, design, worlds, np.random.default_rng(seed + 1), same)
        _, at_pilot = simulate(claim, pilot, tier, design, worlds, np.random.default_rng(seed + 2), same)
        chosen = {"n1": n1, "n2": n2, "p_fail_bound": round(at_bound, 4), "p_fail_pilot": round(at_pilot, 4)}
        if at_bound >= KNOCKOUT_TARGET:
            break
    return {**chosen, "target_met": chosen["p_fail_bound"] >= KNOCKOUT_TARGET, "pilot": figures}


def record_plan(plans_file: Path, tier: str, claim_id: str, entry: dict, section: str = "plans") -> None:
    """Write one claim's plan into `plans_file` at once (a long planning run loses nothing when
    stopped), merged into the file as it is now, under a lock: planners of other claims may be
    writing too. A changed design keeps the one it replaces, with its source, in `changes`.
    section: "plans" for claims, "knockouts" for their knock-outs."""
    with open(plans_file.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        doc = json.loads(plans_file.read_text()) if plans_file.is_file() else {"plans": {}}
        plans = doc.setdefault(section, {}).setdefault(tier, {})
        previous = plans.get(claim_id)
        changes = list(previous.get("changes", [])) if previous else []
        if previous and (previous["n1"], previous["n2"]) != (entry["n1"], entry["n2"]):
            changes.append(f"({previous['n1']}, {previous['n2']}) until {dt.date.today()}: {previous['source']}")
        plans[claim_id] = {**entry, "changes": changes}
        write_atomically(plans_file, json.dumps(doc, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier", default="fast")
    parser.add_argument("--engine", default=None)
    parser.add_argument("--pilot-seeds", type=int, default=10)
    parser.add_argument("--worlds", type=int, default=400)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--max-seeds", type=int, default=32,
                        help="largest second look considered (cheap claims such as K-fold can afford more)")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--knockouts", action="store_true",
                        help="plan each claim's knock-out on pilots of the knock-out (P(fail) >= 0.99 at their bound)")
    parser.add_argument("claims", nargs="*")
    args = parser.parse_args(argv)
    tier = get_tier(args.tier)
    engine = args.engine or tier.engine
    store = RunStore(paths.store_dir())
    if args.knockouts:
        return plan_knockouts(args, tier, engine, store)
    seeds = list(range(PILOT_FIRST_SEED, PILOT_FIRST_SEED + args.pilot_seeds))
    source = (f"{args.worlds} bootstrap worlds from {tier.name}-tier pilot seeds {seeds[0]}-{seeds[-1]} "
              f"({engine} engine), alpha {args.alpha}/{FAMILY_SIZE}")
    for claim in CLAIMS:
        if args.claims and claim.id not in args.claims:
            continue
        runs = {name: run_experiment(get_spec(name, tier), seeds, store, engine) for name in claim.experiments()}
        entry = plan_claim(claim, runs, tier.name, args.alpha, args.worlds, seed=2024, max_seeds=args.max_seeds)
        print(f"{claim.id:26s} n1={entry['n1']:2d} n2={entry['n2']:2d} P(pass|pilot)={entry['p_pass']:.3f} "
              f"P(fail|0)={entry['p_fail']:.3f}{'' if entry['target_met'] else '  (target not met)'}", flush=True)
        for figure in entry["pilot"]:
            print(f"    {figure}", flush=True)
        if not args.dry_run:
            record_plan(PLANS_FILE, tier.name, claim.id, {**entry, "source": source, "family_size": FAMILY_SIZE})
            print(f"    written to {PLANS_FILE}", flush=True)
    return 0


def plan_knockouts(args: argparse.Namespace, tier, engine: str, store: RunStore) -> int:
    pilots = args.pilot_seeds if args.pilot_seeds != 10 else 20
    seeds = list(range(KNOCKOUT_PILOT_FIRST_SEED, KNOCKOUT_PILOT_FIRST_SEED + pilots))
    worlds = args.worlds if args.worlds != 400 else 2000
    source = (f"{worlds} bootstrap worlds from {tier.name}-tier knock-out pilot seeds {seeds[0]}-{seeds[-1]} "
              f"({engine} engine), alpha {args.alpha}/{FAMILY_SIZE}, at the pilots' one-sided "
              f"{BOUND_CONFIDENCE:.0%} bound")
    for claim in CLAIMS:
        if claim.knockout is None or (args.claims and claim.id not in args.claims):
            continue
        specs = [claim.knockout.apply(get_spec(name, tier)) for name in claim.experiments()]
        runs = {spec.name: run_experiment(spec, seeds, store, engine) for spec in specs}
        entry = plan_knockout(claim, runs, tier.name, args.alpha, worlds, seed=2024,
                              max_seeds=max(args.max_seeds, 256))
        print(f"{claim.id:26s} knock-out n1={entry['n1']:3d} n2={entry['n2']:3d} "
              f"P(fail|bound)={entry['p_fail_bound']:.4f} P(fail|pilot)={entry['p_fail_pilot']:.4f}"
              f"{'' if entry['target_met'] else '  (target not met)'}", flush=True)
        for figure in entry["pilot"]:
            print(f"    {figure}", flush=True)
        if not args.dry_run:
            record_plan(PLANS_FILE, tier.name, claim.id, {**entry, "source": source, "family_size": FAMILY_SIZE},
                        section="knockouts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
