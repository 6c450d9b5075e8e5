"""The pilots' per-seed values of every part, kept beside the plans (`pilot_values.json`): what
the planner and the calibration resample, so a change of the tests re-plans and re-calibrates
without training, and a reader sees what each plan rests on.

Layout: section ("plans" or "knockouts") -> tier -> claim -> {"origin": where the values come
from (seeds, engine, versions, CPU), "parts": part -> {"a": [...], "b": [...] or null,
"same_runs": whether the arms are the same runs}}.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

import numpy as np

from fml_bench.claims import Claim
from fml_bench.plans import PILOT_FIRST_SEED
from fml_bench.records import RunRecord
from fml_bench.store import write_atomically

VALUES_FILE = Path(__file__).with_name("pilot_values.json")


def _origin(tier: str, runs: dict[str, list[RunRecord]]) -> str:
    records = [r for recs in runs.values() for r in recs]
    seeds = sorted({r.seed for r in records})
    env = records[0].env if records else {}
    versions = ", ".join(f"{k} {env[k]}" for k in ("keras_backend", "tensorflow", "keras") if k in env)
    what = "pilot seeds" if seeds[0] >= PILOT_FIRST_SEED else "seeds"
    note = ("" if seeds[0] >= PILOT_FIRST_SEED
            else ", an earlier design's confirmatory seeds: the plan takes a fresh block")
    cpu = env.get("cpu", "CPU not recorded") + (f" ({env['cpu_features']})" if env.get("cpu_features") else "")
    return f"{tier}-tier {what} {seeds[0]}-{seeds[-1]} ({records[0].engine} engine; {versions}; {cpu}{note})"


def record_values(section: str, tier: str, claim: Claim, runs: dict[str, list[RunRecord]], pilot: list,
                  same: list[bool], dry_run: bool = False, path: Path = VALUES_FILE,
                  earlier_origin: str | None = None) -> str:
    """Store the claim's pilot values (unless `dry_run`); returns where they come from.

    `earlier_origin`: where the stored pilots that `pilot` pools (`pooled`) came from, so the
    origin names both machines."""
    origin = _origin(tier, runs) if earlier_origin is None else f"{earlier_origin}; with {_origin(tier, runs)}"
    if dry_run:
        return origin
    entry = {"origin": origin, "parts": {
        p.id: {"metric": p.metric.name, "a": [float(x) for x in a], "b": None if b is None else [float(x) for x in b],
               "same_runs": s}
        for p, (a, b), s in zip(claim.parts, pilot, same)}}
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        doc = json.loads(path.read_text()) if path.is_file() else {}
        doc.setdefault(section, {}).setdefault(tier, {})[claim.id] = entry
        write_atomically(path, json.dumps(doc, indent=1) + "\n")
    return origin


def pooled(earlier: tuple[list, list[bool], str], pilot: list, same: list[bool]) -> tuple[list, list[bool]]:
    """`pilot`'s values after `earlier`'s (`load_values`), part by part (a part's two arms stay
    paired seed for seed): pilots from another machine, whose floating point differs, so that a
    plan holds on both."""
    values = [(np.concatenate([ea, a]), None if b is None else np.concatenate([eb, b]))
              for (ea, eb), (a, b) in zip(earlier[0], pilot)]
    return values, [x and y for x, y in zip(earlier[1], same)]


def load_values(section: str, tier: str, claim: Claim,
                path: Path = VALUES_FILE) -> tuple[list, list[bool], str] | None:
    """(per part (a, b), per part same_runs, origin) of the stored pilots, or None when the claim
    has none at this tier or its parts or their metrics changed since."""
    if not path.is_file():
        return None
    entry = json.loads(path.read_text()).get(section, {}).get(tier, {}).get(claim.id)
    if entry is None or set(entry["parts"]) != {p.id for p in claim.parts}:
        return None
    parts = [entry["parts"][p.id] for p in claim.parts]
    if any(v.get("metric") != p.metric.name for v, p in zip(parts, claim.parts)):
        return None
    pilot = [(np.array(v["a"]), None if v["b"] is None else np.array(v["b"])) for v in parts]
    return pilot, [bool(v["same_runs"]) for v in parts], entry["origin"]
