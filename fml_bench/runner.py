"""Running an experiment over seeds through the store: finished seeds are never recomputed,
each new seed is saved the moment it finishes, so an interrupted run loses at most the seeds
in flight."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from fml_bench.engine import get_engine
from fml_bench.experiments import ExperimentSpec
from fml_bench.records import RunRecord
from fml_bench.store import RunStore

log = logging.getLogger(__name__)
Progress = Callable[[str, ExperimentSpec, int, RunRecord | None], None]


def run_experiment(
    spec: ExperimentSpec,
    seeds: Sequence[int],
    store: RunStore,
    engine: str = "reference",
    progress: Progress | None = None,
    chunk_size: int | None = None,
) -> list[RunRecord]:
    """Records of `spec` for every seed in `seeds`, computing only the missing ones.

    progress(event, spec, seed, record) is called with event "cached", "start" or "done".
    Seeds go to the engine `chunk_size` at a time (1 for the reference engine; all
    missing seeds at once for the stacked engine unless given).
    """
    run_seeds = get_engine(engine)
    results: dict[int, RunRecord] = {}
    missing = []
    for seed in seeds:
        record = store.load(spec, seed, engine)
        if record is None:
            missing.append(seed)
        else:
            results[seed] = record
            if progress:
                progress("cached", spec, seed, record)
    size = chunk_size or (1 if engine == "reference" else max(1, len(missing)))
    for i in range(0, len(missing), size):
        chunk = missing[i : i + size]
        if progress:
            for seed in chunk:
                progress("start", spec, seed, None)
        for record in run_seeds(spec, chunk):
            store.save(spec, record)
            results[record.seed] = record
            if progress:
                progress("done", spec, record.seed, record)
    return [results[s] for s in seeds]
