"""Running an experiment over seeds through the store: finished seeds are never recomputed,
each new seed is saved the moment it finishes, so an interrupted run loses at most the seeds
in flight."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fml_bench.engine import check_backend, epoch_listener, get_engine, seeds_per_call
from fml_bench.experiments import ExperimentSpec
from fml_bench.provenance import describe
from fml_bench.records import RunRecord
from fml_bench.store import RunStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpochProgress:
    """What an "epoch" progress event carries: the epoch just finished and its logs."""

    epoch: int
    epochs: int
    logs: dict
    seeds: int


Progress = Callable[[str, ExperimentSpec, int, "RunRecord | EpochProgress | None"], None]


def _epoch_reporter(progress: Progress | None, spec: ExperimentSpec, chunk: list[int]):
    def on_epoch(epoch: int, epochs: int, logs: dict) -> None:
        if progress:
            progress("epoch", spec, chunk[0], EpochProgress(epoch, epochs, logs, len(chunk)))

    return on_epoch


def run_experiment(
    spec: ExperimentSpec,
    seeds: Sequence[int],
    store: RunStore,
    engine: str = "reference",
    progress: Progress | None = None,
    chunk_size: int | None = None,
) -> list[RunRecord]:
    """Records of `spec` for every seed in `seeds`, computing only the missing ones.

    progress(event, spec, seed, payload) is called with event "cached" or "done" (payload: the
    record), "start" (None) or "epoch" (an EpochProgress; seed is the chunk's first seed).
    Seeds go to the engine `chunk_size` at a time (default: `engine.seeds_per_call`, 1 for
    the reference engine, as many as fit its memory budget for the stacked engine).
    """
    run_seeds = get_engine(engine)
    results: dict[int, RunRecord] = {}

    def stored(seed: int) -> RunRecord | None:
        record = store.load(spec, seed, engine)
        if record is not None:
            results[seed] = record
            if progress:
                progress("cached", spec, seed, record)
        return record

    missing = [seed for seed in seeds if stored(seed) is None]
    if not missing:
        return [results[s] for s in seeds]
    check_backend(engine)
    _say_what_is_not_reused(store, spec, engine, missing)
    with store.lock(spec, engine, missing):  # another process may have trained them while we waited
        missing = [seed for seed in missing if stored(seed) is None]
        size = chunk_size or seeds_per_call(engine, spec, len(missing))
        for i in range(0, len(missing), size):
            chunk = missing[i : i + size]
            if progress:
                for seed in chunk:
                    progress("start", spec, seed, None)
            with epoch_listener(_epoch_reporter(progress, spec, chunk)):
                records = run_seeds(spec, chunk)
            for record in records:
                store.save(spec, record)
                results[record.seed] = dataclasses.replace(record, fingerprint=store.fingerprint(spec, engine))
                if progress:
                    progress("done", spec, record.seed, record)
    return [results[s] for s in seeds]


def _say_what_is_not_reused(store: RunStore, spec: ExperimentSpec, engine: str, missing: list[int]) -> None:
    """Warn when seeds about to be trained exist under another fingerprint (another TF, data...)."""
    for group in store.elsewhere(spec, engine):
        overlap = sorted(set(group.seeds) & set(missing))
        if overlap:
            log.warning(
                "%s: %d stored seed(s) were made under %s, not this process's %s; they are not reused "
                "(`fml-bench store` lists them)", spec.name, len(overlap), describe(group.fingerprint),
                describe(store.fingerprint(spec, engine)),
            )
