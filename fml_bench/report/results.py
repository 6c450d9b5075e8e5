"""results.json: the machine-readable record of one suite run, and its schema check."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path

from fml_bench.claims import ClaimResult
from fml_bench.errors import FmlBenchError
from fml_bench.stats import holm

SCHEMA_VERSION = 1
CLAIM_FIELDS = {
    "claim_id": str, "section": str, "statement": str, "book_says": str, "tier": str, "engine": str,
    "parts": list, "verdict": str, "p": float, "level": float, "seeds": int, "wall_seconds": float,
    "p_adjusted": float, "known_divergence": str, "curves": dict, "datasets": list,
}
PART_FIELDS = {"says": str, "test": str, "metric": str, "a": str, "values_a": list, "estimate": float,
               "ci_low": float, "ci_high": float, "p": float, "verdict": str}


class SchemaError(FmlBenchError):
    """A results.json that does not follow the schema."""


def _clean(value):
    """JSON has no NaN: store non-finite floats as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def build_document(results: list[ClaimResult], env: dict[str, str], run_id: str,
                   benchmarks: dict | None = None) -> dict:
    """The results document: Holm-adjusted p-values across the run's claims, env, claims."""
    adjusted = holm([r.p for r in results]) if results else []
    claims = [dataclasses.asdict(dataclasses.replace(r, p_adjusted=float(a))) for r, a in zip(results, adjusted)]
    doc = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tiers": sorted({r.tier for r in results}),
        "engines": sorted({r.engine for r in results}),
        "env": env,
        "claims": claims,
        "benchmarks": benchmarks or {},
    }
    return _clean(doc)


def validate(doc: dict) -> dict:
    """Raise SchemaError unless `doc` is a results document of a known schema version."""
    if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION:
        raise SchemaError(f"not a results.json of schema {SCHEMA_VERSION} "
                          f"(schema_version={doc.get('schema_version') if isinstance(doc, dict) else None})")
    for key in ("run_id", "created", "env", "claims"):
        if key not in doc:
            raise SchemaError(f"results.json lacks {key!r}")
    for claim in doc["claims"]:
        _check_fields(claim, CLAIM_FIELDS, f"claim {claim.get('claim_id')}")
        for part in claim["parts"]:
            _check_fields(part, PART_FIELDS, f"claim {claim['claim_id']} part {part.get('says')!r}")
        if claim["verdict"] not in ("pass", "fail", "inconclusive"):
            raise SchemaError(f"claim {claim['claim_id']}: unknown verdict {claim['verdict']!r}")
    return doc


def _check_fields(obj: dict, fields: dict, where: str) -> None:
    for name, kind in fields.items():
        if name not in obj:
            raise SchemaError(f"{where} lacks {name!r}")
        value = obj[name]
        if value is None and kind is float:
            continue
        if kind is float and isinstance(value, int):
            continue
        if not isinstance(value, kind):
            raise SchemaError(f"{where}: {name!r} should be {kind.__name__}, got {type(value).__name__}")


def load(path: Path) -> dict:
    """A validated results document from a results.json or a report folder."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        return validate(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise SchemaError(f"cannot read results from {path}: {exc}") from exc
