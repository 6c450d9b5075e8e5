"""Do the committed plans hold on this machine? Each claim's design simulated on the per-seed
values of a run store's records (for example a whole `fml-bench check --tier book` on another
CPU), trained nothing:

    python benchmarks/plans_on_runs.py --tier book --store /path/to/store [claims ...]

A plan is made on one machine's pilots (`benchmarks/plan_seeds.py`); floating point differs
between CPUs, and a discrete metric such as the epoch of a minimum can move with it (a design
that passed with P 1.0 on its pilots' machine passed with P 0.70 on a Zen 3). This draws
bootstrap worlds from the seeds a store holds at each claim's confirmatory block and decides
them through the claim's own looks, as `fml_bench.planning` does for pilots: P(pass | these
values as measured) and the expected seeds. A claim whose figure is below 0.95 wants re-planning
with both machines' values (`plan_seeds.py --pool`). Few stored seeds (a claim that stopped at a
first look of 10) make a crude bootstrap: the table says how many each figure rests on.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from tabulate import tabulate

from fml_bench.claims import CLAIMS, FAMILY_SIZE, Claim
from fml_bench.planning import PASS_TARGET
from fml_bench.simulation import simulate
from fml_bench.store import RunStore
from fml_bench.suite import SuiteConfig, claim_specs
from fml_bench.verdicts import part_values

WORLDS = 4000


def stored_runs(claim: Claim, config: SuiteConfig, store: RunStore) -> dict[str, list]:
    """The claim's stored records at its confirmatory seeds (up to its last look), seeds every
    experiment of it has, in order: the arms stay paired."""
    seeds = range(config.first_seed(claim), config.first_seed(claim) + config.design(claim).last_look)
    found = {spec.name: {s: store.load(spec, s, config.engine) for s in seeds} for spec in claim_specs(claim, config)}
    common = [s for s in seeds if all(found[n][s] is not None for n in found)]
    return {name: [records[s] for s in common] for name, records in found.items()}


def plan_on_runs(claim: Claim, config: SuiteConfig, store: RunStore, worlds: int = WORLDS) -> dict:
    """The claim's design simulated on the store's values: seeds found, P(pass), expected seeds."""
    runs = stored_runs(claim, config, store)
    seeds = min(len(records) for records in runs.values())
    design = config.design(claim)
    row = {"claim": claim.id, "looks": design.looks, "seeds": seeds, "p_pass": None, "expected_seeds": None}
    if seeds < 2:
        return row
    values = [part_values(p, runs) for p in claim.parts]
    outcome = simulate(claim.parts, values, config.tier.name, design, worlds, np.random.default_rng(2024))
    return {**row, "p_pass": outcome.p_pass, "expected_seeds": outcome.expected_seeds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier", default="book")
    parser.add_argument("--engine", default=None)
    parser.add_argument("--store", required=True, help="a run store folder or URL")
    parser.add_argument("--worlds", type=int, default=WORLDS)
    parser.add_argument("claims", nargs="*")
    args = parser.parse_args(argv)
    store = RunStore(args.store)
    config = SuiteConfig.from_options(args.tier, store, args.engine)
    rows, below = [], []
    for claim in CLAIMS:
        if args.claims and claim.id not in args.claims:
            continue
        row = plan_on_runs(claim, config, store, args.worlds)
        p = row["p_pass"]
        if p is not None and p < PASS_TARGET:
            below.append(claim.id)
        rows.append([row["claim"], ", ".join(map(str, row["looks"])), row["seeds"],
                     "no runs" if p is None else f"{p:.3f}",
                     "-" if row["expected_seeds"] is None else f"{row['expected_seeds']:.1f}"])
    print(tabulate(rows, headers=["claim", "seeds at each look", "stored seeds drawn from", "P(pass | these values)",
                                  "expected seeds"], tablefmt="github", disable_numparse=True))
    print(f"\nalpha 0.05/{FAMILY_SIZE}, {args.worlds} bootstrap worlds through each claim's looks; "
          f"below {PASS_TARGET}: {', '.join(below) or 'none'}")
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
