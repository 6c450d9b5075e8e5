"""results.json: the machine-readable record of one suite run, and its schema check."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path

from fml_bench.errors import FmlBenchError
from fml_bench.report.claim_results import FAIL, INCONCLUSIVE, MEASURED, PASS, ClaimResult, PartResult
from fml_bench.stats import holm

SCHEMA_VERSION = 2  # 2: part ids, metric keys, fail p and SESOI per part; knock-outs and measurements
VERDICTS = (PASS, FAIL, INCONCLUSIVE, MEASURED)
_JSON_TYPES = {str: str, int: int, float: float, bool: bool}


def _schema(cls) -> dict[str, type]:
    """Field name -> JSON type of a result dataclass (optional fields: their non-None type)."""
    out: dict[str, type] = {}
    for f in dataclasses.fields(cls):
        kind = str(f.type)
        out[f.name] = (str if kind.startswith("str") else float if kind == "float" else int if kind == "int"
                       else list if kind.startswith(("list", "tuple")) else dict if kind.startswith("dict") else object)
    return out


CLAIM_FIELDS = _schema(ClaimResult)
PART_FIELDS = _schema(PartResult)
OPTIONAL = {"b", "values_b"}
MAY_BE_ABSENT = {"environments", "fail_level", "confidence", "seed_ledger"}  # added within schema 2; older lack them


def is_confirmatory(claim: dict | ClaimResult) -> bool:
    """A claim of the family (not a measurement, not a knock-out check)."""
    get = claim.get if isinstance(claim, dict) else lambda k, d=None: getattr(claim, k, d)
    return get("kind", "claim") == "claim" and not get("knockout", "")


class SchemaError(FmlBenchError):
    """A results.json that does not follow the schema."""


def json_safe(value):
    """JSON has no NaN: store non-finite floats as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def build_document(results: list[ClaimResult], env: dict[str, str], run_id: str,
                   benchmarks: dict | None = None) -> dict:
    """The results document: Holm-adjusted p-values across the run's claims, env, claims."""
    family = [r for r in results if is_confirmatory(r)]
    adjusted = dict(zip([id(r) for r in family], holm([r.p for r in family]) if family else []))
    claims = [dataclasses.asdict(dataclasses.replace(r, p_adjusted=float(adjusted.get(id(r), float("nan")))))
              for r in results]
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
    return json_safe(doc)


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
        if claim["verdict"] not in VERDICTS:
            raise SchemaError(f"claim {claim['claim_id']}: unknown verdict {claim['verdict']!r}")
    return doc


def _check_fields(obj: dict, fields: dict, where: str) -> None:
    for name, kind in fields.items():
        if name not in obj:
            if name in MAY_BE_ABSENT:
                continue
            raise SchemaError(f"{where} lacks {name!r}")
        value = obj[name]
        if value is None and (kind is float or name in OPTIONAL):
            continue
        if kind is object:
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
