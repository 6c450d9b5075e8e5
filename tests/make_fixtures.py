"""Regenerates tests/fixtures/ (a results.json from synthetic runs and its golden report.md).

Run `python -m tests.make_fixtures` after a deliberate change of the report's layout, and
review the diff of report-golden.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from fml_bench.claims import evaluate, get_claim
from fml_bench.report import markdown, results
from tests.test_claims_can_fail import COUNTER_EXAMPLES, LEVEL, full_world

FIXTURES = Path(__file__).parent / "fixtures"
ENV = {"tensorflow": "2.21.0", "keras": "3.15.1", "cpu": "synthetic", "git_commit": "0000000"}


def fixture_document() -> dict:
    world = full_world()
    broken = COUNTER_EXAMPLES["imdb-l2"](world)
    out = []
    for claim_id, runs in (("noise-channels", world), ("imdb-l2", broken)):
        claim = get_claim(claim_id)
        out.append(evaluate(claim, "fast", {n: runs[n] for n in claim.experiments()}, LEVEL))
    doc = results.build_document(out, ENV, "20261126T000000Z")
    doc["created"] = "2026-11-26T00:00:00+00:00"
    return doc


def main() -> None:
    FIXTURES.mkdir(exist_ok=True)
    doc = fixture_document()
    (FIXTURES / "results-v1.json").write_text(json.dumps(doc, indent=1))
    figures = {f"{c['claim_id']}-{c['tier']}": f"{c['claim_id']}-{c['tier']}.png" for c in doc["claims"]}
    (FIXTURES / "report-golden.md").write_text(markdown.render(doc, figures))


if __name__ == "__main__":
    main()
