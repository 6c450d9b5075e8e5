"""The longest tests first, so that pytest-xdist's workers end together.

xdist hands tests out in collection order (a first batch round-robin, then one at a time to the
worker that runs low), so a long test collected late starts late and its worker finishes alone:
in a fresh-clone CI on a 2-core AMD EPYC Zen 3 the 500 s engine-equivalence test started 17
minutes in, and the two workers ended 198 s apart. Sorting by expected seconds, longest first
(the LPT rule), starts the long tests at once and leaves the short ones to fill the gaps.

xdist's load scheduler first sends each worker a chunk of *consecutive* tests (a quarter of its
share): with the longest first, one worker got every long test and the other sat idle for half
the run (seen in a fresh-clone CI on the Zen 3: one worker at 19% CPU). So unless the user sets
`--maxschedchunk`, fml-bench sets it to 1: each worker holds two tests and takes the next from
the front as one ends (dynamic LPT).

A test says what it expects to cost with `pytest.mark.expected_seconds(s)`; the estimates come
from the cost table (fml_bench/costs.json: training seconds per seed) and the claims' plans,
so they only order tests, never judge them. Unmarked tests keep their order, after the marked.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

MARKER = "expected_seconds"


def expected_seconds(item: pytest.Item) -> float:
    """The item's `expected_seconds` mark, 0 without one."""
    mark = item.get_closest_marker(MARKER)
    return float(mark.args[0]) if mark is not None else 0.0


def longest_first(items: list[pytest.Item]) -> None:
    """Sort `items` in place by expected seconds, longest first (stable for equal estimates)."""
    items.sort(key=lambda item: -expected_seconds(item))


def hand_out_one_at_a_time(config: pytest.Config) -> None:
    """Make xdist's load scheduler hand tests out from the front one at a time (see the module
    doc), unless the user chose a `--maxschedchunk` (or xdist is not installed)."""
    if config.pluginmanager.hasplugin("xdist") and config.getoption("maxschedchunk", None) is None:
        config.option.maxschedchunk = 1


def _seed_seconds(experiments: Iterable[str], tier: str, engine: str) -> float:
    from fml_bench.engine_registry import default_engine
    from fml_bench.experiments import get_spec
    from fml_bench.shards import seed_cost

    engine = default_engine(engine)
    return sum(seed_cost(get_spec(name, tier), tier, engine) for name in experiments)


def claim_seconds(claim_id: str, tier: str, knockout: bool = False) -> float:
    """Training seconds a claim's check is expected to take: its experiments' seconds per seed
    at the tier's engine times the seeds of its plan's first look (the knock-out's own plan; a
    knock-out changes a field of the same experiments, costed alike, and an arm it makes equal to
    another trains once: `RunStore.load`)."""
    from fml_bench.claims import get_claim
    from fml_bench.suite import experiment_specs, planned_design
    from fml_bench.tiers import TIERS

    claim = get_claim(claim_id)
    seeds = planned_design(claim, tier, knockout=knockout).first_look
    trainings = {spec.training_hash(): spec.name for spec in experiment_specs(claim, tier, knockout)}
    return seeds * _seed_seconds(trainings.values(), tier, TIERS[tier].engine)


def experiment_seconds(experiment: str, tier: str, engines: Iterable[str], seeds: int) -> float:
    """Training seconds of `seeds` seeds of `experiment` under each of `engines`, summed."""
    return seeds * sum(_seed_seconds([experiment], tier, engine) for engine in engines)


def mark(seconds: float) -> pytest.MarkDecorator:
    return getattr(pytest.mark, MARKER)(round(seconds, 1))
