"""A third-party engine as a plug-in would ship it: an `EngineInfo` under the entry-point group
`fml_bench.engines` and a module with `run_seeds`. It trains nothing: its records come from the
synthetic worlds of test_claims_can_fail, in which every claim holds."""

from __future__ import annotations

import dataclasses

from fml_bench.engine_registry import EngineChange, EngineInfo
from tests.test_claims_can_fail import world_runner

ENGINE = EngineInfo("toy", (EngineChange(1, "first version"),), batches_seeds=False, module="tests.toy_engine",
                    summary="synthetic worlds (a test of the plug-in route)", backends=("tensorflow", "jax", "torch"))


def run_seeds(spec, seeds):
    return [dataclasses.replace(r, spec_name=spec.name, spec_hash=spec.content_hash(), engine="toy")
            for r in world_runner("fast")(spec, seeds)]
