"""A stand-in engine that answers from the synthetic worlds of test_claims_can_fail, filed as
the stacked engine's records, and a constant fingerprint: sharding, Ray and store tests train
nothing real. `install()` patches it in for a whole process (a Ray worker's sitecustomize)."""

from __future__ import annotations

import dataclasses

from tests.test_claims_can_fail import world_runner


def world_engine(tier: str = "fast"):
    world = world_runner(tier)

    def engine(spec, seeds):
        return [dataclasses.replace(r, spec_name=spec.name, spec_hash=spec.content_hash(), engine="stacked")
                for r in world(spec, seeds)]

    return engine


def world_fingerprint(spec, engine: str) -> dict[str, str]:
    return {"engine": engine, "data": "world"}


def install() -> None:
    from fml_bench import provenance, runner

    runner.get_engine = lambda name: world_engine()
    provenance.fingerprint = world_fingerprint


INSTALL = "from tests.world_engine import install\ninstall()\n"


def use_everywhere(folder, monkeypatch, sitecustomize: str = INSTALL) -> str:
    """The world engine and fingerprint in this process and in every fresh process it starts (Ray's
    workers, `fml-bench check`'s): those get it through a `sitecustomize` module on their
    PYTHONPATH, as they would get a real engine through the installed package. Returns that PYTHONPATH."""
    from pathlib import Path

    from fml_bench import provenance, runner

    site = Path(folder) / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(sitecustomize)
    path = f"{site}:{Path(__file__).resolve().parents[1]}"
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setattr(runner, "get_engine", lambda name: world_engine())
    monkeypatch.setattr(provenance, "fingerprint", world_fingerprint)
    return path
