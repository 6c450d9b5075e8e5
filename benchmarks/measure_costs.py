"""Per-seed training seconds of every experiment found in a run store, written to
fml_bench/costs.json, from which shards are balanced (`fml_bench.shards`).

    python benchmarks/measure_costs.py --store .fml-bench/store [--store another] [--dry-run]

A record's wall_seconds is its share of the training time (the stacked engine divides a
chunk's time among its seeds). The median over an experiment's records is kept, per tier (found
by matching the spec hash) and engine; entries already in the table and not found in the given
stores are kept.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from importlib import resources
from pathlib import Path

from fml_bench.experiments import experiment_names, get_spec
from fml_bench.store import RunStore
from fml_bench.tiers import TIERS


def measured(store: RunStore) -> dict[str, dict[str, dict[str, float]]]:
    by_hash = {f"{n}-{get_spec(n, t).content_hash()}": (t, n) for t in TIERS for n in experiment_names()}
    seconds: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for group in store.groups():
        if group.spec_folder not in by_hash:
            continue
        tier, name = by_hash[group.spec_folder]
        for file in group.folder.glob("seed-*.json"):
            seconds[(tier, group.engine, name)].append(store.read(file).wall_seconds)
    out: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for (tier, engine, name), values in seconds.items():
        out[tier][engine][name] = round(statistics.median(values), 2)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", action="append", required=True)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    target = Path(str(resources.files("fml_bench").joinpath("costs.json")))
    table = json.loads(target.read_text())
    for folder in args.store:
        for tier, engines in measured(RunStore(folder, fingerprint=lambda s, e: {})).items():
            for engine, costs in engines.items():
                table.setdefault(tier, {}).setdefault(engine, {}).update(costs)
    text = json.dumps(table, indent=1, sort_keys=True)
    print(text)
    if not args.dry_run:
        target.write_text(text + "\n")


if __name__ == "__main__":
    main()
