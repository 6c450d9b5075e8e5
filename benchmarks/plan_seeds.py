"""Plan each claim's seeds from pilot runs (`fml_bench/planning.py` says how): the sequential
design (one to four looks) of least expected seeds at which P(pass | the pilots' lower 95% bound) >= 0.95 and
P(fail | the effect gone) >= 0.95, each part on its own and all at once.

    python benchmarks/plan_seeds.py --tier fast            # trains missing pilot seeds, writes the plans
    python benchmarks/plan_seeds.py --tier fast --dry-run  # prints the table only
    python benchmarks/plan_seeds.py --tier fast --from-values  # re-plans from the stored pilot values
    python benchmarks/plan_seeds.py --tier fast --knockouts  # the knock-outs' own designs

Pilot runs use seeds PILOT_FIRST_SEED.. (never the confirmatory ones; knock-outs from
KNOCKOUT_PILOT_FIRST_SEED). Their per-seed values are kept in `fml_bench/pilot_values.json`
(with the engine, versions and CPU they came from), so a change of the tests re-plans and
re-calibrates (`benchmarks/calibration.py`) without training again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import sys
from pathlib import Path

from fml_bench import paths
from fml_bench.claims import CLAIMS, FAMILY_SIZE, Claim
from fml_bench.hypotheses import Kind
from fml_bench.pilot_values import load_values, pooled, record_values
from fml_bench.planning import plan_claim, plan_knockout
from fml_bench.plans import KNOCKOUT_PILOT_FIRST_SEED, PILOT_FIRST_SEED, PLANS_FILE, entry_looks, next_seed_block
from fml_bench.runner import run_experiment
from fml_bench.store import RunStore, write_atomically
from fml_bench.suite import experiment_specs
from fml_bench.tiers import get_tier
from fml_bench.verdicts import part_values, same_runs

WORLDS = 4000


def pilot_runs(claim: Claim, tier, engine: str, store: RunStore, seeds: list[int], kfold_seeds: list[int],
               knockout: bool = False) -> dict:
    """The claim's (or its knock-out's) pilot records, training the missing ones. K-fold
    experiments are cheap and their spread parts need many seeds: `kfold_seeds`."""
    specs = experiment_specs(claim, tier, knockout)
    uses_spread = any(p.kind is Kind.LESS_SPREAD for p in claim.parts)
    return {spec.name: run_experiment(spec, kfold_seeds if uses_spread else seeds, store, engine) for spec in specs}


def values_of(claim: Claim, runs: dict) -> tuple[list, list[bool]]:
    return [part_values(p, runs) for p in claim.parts], [same_runs(p, runs) for p in claim.parts]


def record_plan(plans_file: Path, tier: str, claim_id: str, entry: dict, section: str = "plans") -> None:
    """Write one claim's plan into `plans_file` at once (a long planning run loses nothing when
    stopped), merged into the file as it is now, under a lock: planners of other claims may be
    writing too. A plan that replaces another (other looks, or other tests: another source)
    starts on a fresh block of seeds (`plans.next_seed_block`) and keeps the one it replaces, with
    the seeds it looked at and its source, in `changes` (the seed ledger).
    section: "plans" for claims, "knockouts" for their knock-outs. A knock-out runs on its
    claim's block (`SuiteConfig.first_seed`: the arms it leaves alone are the claim's stored runs)
    and decides no confirmatory question, so its entry has no block of its own, and its ledger
    names the looks it replaced without seeds."""
    with open(plans_file.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        doc = json.loads(plans_file.read_text()) if plans_file.is_file() else {"plans": {}}
        plans = doc.setdefault(section, {}).setdefault(tier, {})
        previous = plans.get(claim_id)
        changes = list(previous.get("changes", [])) if previous else []
        first_seed = previous.get("first_seed", 0) if previous else 0
        replaced = previous and (entry_looks(previous) != entry_looks(entry)
                                 or previous.get("source") != entry.get("source"))
        knockout = section == "knockouts"
        if replaced:
            start, looks = previous.get("first_seed", 0), entry_looks(previous)
            seeds = "at its claim's seeds" if knockout else f"at seeds {start}-{start + looks[-1] - 1}"
            changes.append(f"({', '.join(map(str, looks))}) {seeds} until {dt.date.today()}: {previous['source']}")
            first_seed = next_seed_block(previous)
        plans[claim_id] = {**entry, **({} if knockout else {"first_seed": first_seed}), "changes": changes}
        write_atomically(plans_file, json.dumps(doc, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier", default="fast")
    parser.add_argument("--engine", default=None)
    parser.add_argument("--pilot-seeds", type=int, default=20)
    parser.add_argument("--kfold-pilot-seeds", type=int, default=100)
    parser.add_argument("--pilot-first-seed", type=int, default=None,
                        help="first pilot seed (default 1000, 3000 for knock-outs); seeds of an earlier design's "
                             "confirmatory looks may serve, as the new plan takes a fresh block")
    parser.add_argument("--worlds", type=int, default=WORLDS)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--max-seeds", type=int, default=64,
                        help="largest last look considered (cheap claims such as K-fold can afford more)")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--from-values", action="store_true",
                        help="plan from fml_bench/pilot_values.json instead of pilot runs (trains nothing)")
    parser.add_argument("--knockouts", action="store_true",
                        help="plan each claim's knock-out on pilots of the knock-out (P(fail) >= 0.99 at their bound)")
    parser.add_argument("--pool", action="store_true",
                        help="add the pilot runs' values to the claim's stored ones (pilots of another machine, "
                             "once per machine: a second --pool of the same runs adds them again); the plan must "
                             "hold on both")
    parser.add_argument("claims", nargs="*")
    args = parser.parse_args(argv)
    tier = get_tier(args.tier)
    engine = args.engine or tier.engine
    store = RunStore(paths.store_dir())
    section = "knockouts" if args.knockouts else "plans"
    first = args.pilot_first_seed if args.pilot_first_seed is not None else (
        KNOCKOUT_PILOT_FIRST_SEED if args.knockouts else PILOT_FIRST_SEED)
    seeds = list(range(first, first + args.pilot_seeds))
    kfold_seeds = list(range(first, first + args.kfold_pilot_seeds))
    for claim in CLAIMS:
        if args.claims and claim.id not in args.claims:
            continue
        machines: list = []
        if args.from_values:
            stored = load_values(section, tier.name, claim)
            if stored is None:
                print(f"{claim.id:26s} no stored pilot values: run without --from-values", flush=True)
                continue
            pilot, same, origin = stored
        else:
            runs = pilot_runs(claim, tier, engine, store, seeds, kfold_seeds, knockout=args.knockouts)
            pilot, same = values_of(claim, runs)
            earlier = load_values(section, tier.name, claim) if args.pool else None
            if earlier is not None:
                machines = [earlier[0], pilot]
                pilot, same = pooled(earlier, pilot, same)
            origin = record_values(section, tier.name, claim, runs, pilot, same, dry_run=args.dry_run,
                                   earlier_origin=earlier[2] if earlier is not None else None)
        alpha = args.alpha / FAMILY_SIZE
        source = (f"{args.worlds} bootstrap worlds from {origin}, alpha {args.alpha}/{FAMILY_SIZE}, "
                  f"sign tests, at the pilots' one-sided 95% bound"
                  + (" and at each machine's pilots as measured" if machines else ""))
        if args.knockouts:
            entry = plan_knockout(claim.parts, pilot, tier.name, alpha, args.worlds, 2024, same,
                                  max_seeds=max(args.max_seeds, 256))
            print(f"{claim.id:26s} knock-out looks={entry['looks']} "
                  f"P(fail|bound)={entry['p_fail_bound']:.4f} P(fail|pilot)={entry['p_fail_pilot']:.4f} "
                  f"E[seeds]={entry['expected_seeds']:.1f}{'' if entry['target_met'] else '  (target not met)'}",
                  flush=True)
        else:
            entry = plan_claim(claim.parts, pilot, tier.name, alpha, args.worlds, 2024, max_seeds=args.max_seeds,
                               machines=machines)
            print(f"{claim.id:26s} looks={entry['looks']} P(pass|bound)={entry['p_pass']:.3f} "
                  f"P(pass|pilot)={entry['p_pass_pilot']:.3f} P(fail|0)={entry['p_fail']:.3f} "
                  f"{'P(pass|each machine)=' + str(entry['p_pass_machines']) + ' ' if machines else ''}"
                  f"E[seeds]={entry['expected_seeds']:.1f}{'' if entry['target_met'] else '  (target not met)'}",
                  flush=True)
            for figure in entry["parts"]:
                print(f"    {figure}", flush=True)
        if not args.dry_run:
            record_plan(PLANS_FILE, tier.name, claim.id, {**entry, "source": source, "family_size": FAMILY_SIZE},
                        section=section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
