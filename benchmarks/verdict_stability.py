"""Verdict stability: check the claims several times on the same seeds, each time from an empty
store, and count how often a claim's verdict changes (run-to-run nondeterminism of the
engine, op determinism off). A plan whose verdict flips between reruns needs redesigning.

    python benchmarks/verdict_stability.py --reruns 3            # every fast-tier claim
    python benchmarks/verdict_stability.py --reruns 3 imdb-larger
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from tabulate import tabulate

from fml_bench.claims import CLAIMS, get_claim
from fml_bench.store import RunStore
from fml_bench.suite import SuiteConfig, check_claim
from fml_bench.tiers import get_tier


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("claims", nargs="*")
    parser.add_argument("--reruns", type=int, default=3)
    parser.add_argument("--tier", default="fast")
    parser.add_argument("--out", default="reports/verdict-stability.json")
    args = parser.parse_args(argv)
    claims = [get_claim(c) for c in args.claims] if args.claims else list(CLAIMS)
    tier = get_tier(args.tier)
    verdicts: dict[str, list[tuple[str, float, int]]] = {c.id: [] for c in claims}
    for rerun in range(args.reruns):
        with tempfile.TemporaryDirectory(prefix=f"fml-bench-rerun{rerun}-") as folder:
            config = SuiteConfig(tier=tier, store=RunStore(Path(folder)))
            for claim in claims:
                result = check_claim(claim, config)
                verdicts[claim.id].append((result.verdict, result.p, result.seeds))
                print(f"rerun {rerun + 1}: {claim.id}: {result.verdict} (p={result.p:.2g}, {result.seeds} seeds)",
                      flush=True)
    rows = []
    for claim_id, outcomes in verdicts.items():
        counts = Counter(v for v, _, _ in outcomes)
        rows.append([claim_id, ", ".join(f"{v} x{n}" for v, n in counts.items()), len(counts) > 1,
                     ", ".join(f"{p:.2g}" for _, p, _ in outcomes), ", ".join(str(n) for _, _, n in outcomes)])
    print(tabulate(rows, headers=["claim", "verdicts", "changed", "p per rerun", "seeds per rerun"],
                   tablefmt="github"))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(verdicts, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
