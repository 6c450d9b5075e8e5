"""The calibration table: every claim and part, false pass at zero effect and false fail at the
SESOI, through the claim's registered design at its real level, in worlds resampled from the
pilots' per-seed values (`fml_bench/calibration.py` builds the worlds).

    python benchmarks/calibration.py --tier fast                 # the decision's tests
    python benchmarks/calibration.py --tier fast --compare       # beside Student's and Hall's t
    python benchmarks/calibration.py --tier fast --worlds 40000 --markdown docs/measurements/x.md

A row is within bounds when its rate is at most the binomial 99% limit of the nominal rate at
that many worlds (at 40,000 worlds a 1.2x inflation of a 0.0033 level shows). Exits 1 when a
row of the decision's tests is over its limit.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import contextmanager

from tabulate import tabulate

from fml_bench import part_tests
from fml_bench.calibration import CalibrationRow, calibrate_claim
from fml_bench.claims import CLAIMS, FAMILY_SIZE
from fml_bench.pilot_values import load_values
from fml_bench.plans import plan_for
from fml_bench.stats import SequentialDesign


@contextmanager
def difference_test(test: str):
    """Decide difference and band parts by `test` for the duration (the comparison only)."""
    previous = part_tests.DIFFERENCE_TEST
    part_tests.DIFFERENCE_TEST = test
    try:
        yield
    finally:
        part_tests.DIFFERENCE_TEST = previous


def table(tier: str, worlds: int, claims: list[str], test: str = part_tests.SIGN,
          alpha: float = 0.05) -> list[tuple[CalibrationRow, tuple[int, int]]]:
    """Calibration rows of every claim with stored pilot values at `tier`, with its design."""
    out = []
    with difference_test(test):
        for claim in CLAIMS:
            if claims and claim.id not in claims:
                continue
            stored = load_values("plans", tier, claim)
            if stored is None:
                print(f"{claim.id}: no pilot values at tier {tier} (benchmarks/plan_seeds.py records them)",
                      file=sys.stderr)
                continue
            pilot, _, _ = stored
            plan = plan_for(claim.id, tier)
            design = SequentialDesign.of(plan.looks, alpha / FAMILY_SIZE)
            out += [(row, design.looks) for row in calibrate_claim(claim.id, claim.parts, pilot, tier,
                                                                        design, worlds)]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier", default="fast")
    parser.add_argument("--worlds", type=int, default=40000)
    parser.add_argument("--compare", action="store_true", help="add Student's and Hall's t on the same worlds")
    parser.add_argument("--markdown", help="also write the table to this file")
    parser.add_argument("claims", nargs="*")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = table(args.tier, args.worlds, args.claims)
    others = {t: table(args.tier, args.worlds, args.claims, t) for t in (part_tests.STUDENT, part_tests.HALL)} \
        if args.compare else {}
    headers = ["claim", "part", "looks", "world", "false", "rate (sign tests)", "nominal", "99% limit", "ok"]
    headers += [f"rate ({t} t)" for t in others]
    body = []
    for i, (row, looks) in enumerate(rows):
        line = [row.claim, row.part, "/".join(map(str, looks)), row.world, row.false_verdict, f"{row.rate:.5f}",
                f"{row.nominal:.5f}", f"{row.limit:.5f}", "yes" if row.ok else "**no**"]
        for other in others.values():
            o = other[i][0]
            line.append(f"{o.rate:.5f}" + ("" if o.ok else " (over)"))
        body.append(line)
    text = tabulate(body, headers, tablefmt="github")
    print(text)
    over = [r for r, _ in rows if not r.ok]
    seconds = time.perf_counter() - started
    summary = f"\n{len(rows)} rows at tier {args.tier}, {args.worlds} worlds each, {seconds:.0f} s; "
    summary += f"{len(over)} over the limit"
    for t, other in others.items():
        summary += f"; {t} t: {sum(not o.ok for o, _ in other)} over"
    print(summary)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n" + summary + "\n")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
