"""Training a suite's work on a Ray cluster (`pip install 'fml-bench[ray]'`).

The units are the shards' (experiment, seed-block) units (`fml_bench.shards`), one Ray task each,
run by an existing engine through the store: every task opens the store by its location (a
folder all workers see, or an `s3://` URL on a real cluster), trains the missing seeds of its
unit and saves them; nothing returns through Ray but the unit's name and time. The first looks
run first; each later look follows for the claims the stored earlier ones leave undecided; the verdicts and
report then come from the store alone, as after sharded training.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from fml_bench.claims import Claim
from fml_bench.errors import FmlBenchError
from fml_bench.shards import WorkUnit, train_by_looks, train_unit
from fml_bench.suite import SuiteConfig


def _train_unit(store_location: str, unit: WorkUnit, engine: str, env: dict[str, str]) -> tuple[str, float]:
    """In a Ray worker: the unit's name and seconds (`shards.train_unit`) under the driver's environment."""
    import os

    os.environ.update(env)
    return unit.name, train_unit(store_location, unit, engine)


def run_on_ray(claims: Sequence[Claim], config: SuiteConfig, store_location: str | Path,
               address: str | None = None, say: Callable[[str], None] = print,
               cpus_per_task: float = 1.0) -> None:
    """Train every unit the claims need on Ray, look by look (a later look only for the claims
    the stored earlier ones leave undecided), into the store."""
    try:
        import ray
    except ImportError as exc:
        raise FmlBenchError("the Ray executor needs Ray: pip install 'fml-bench[ray]'") from exc
    import os

    passed = {k: v for k, v in os.environ.items() if k.startswith(("FML_BENCH_", "KERAS_", "AWS_", "TF_"))}
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    task = ray.remote(num_cpus=cpus_per_task)(_train_unit)

    def train_units(units: list[WorkUnit]) -> Iterator[tuple[str, float]]:
        pending = [task.remote(str(store_location), u, config.engine, passed) for u in units]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])

    try:
        train_by_looks(claims, config, train_units, say, "ray")
    finally:
        if started_here:
            ray.shutdown()
