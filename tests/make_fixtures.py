"""Regenerates tests/fixtures/ (a results.json from synthetic runs and its golden report.md).

Run `python -m tests.make_fixtures` after a deliberate change of the report's layout, and
review the diff of report-golden.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from fml_bench.claims import get_claim
from fml_bench.report import markdown, results
from fml_bench.suite import check_claim
from tests.test_claims_can_fail import config

FIXTURES = Path(__file__).parent / "fixtures"
RESULTS = FIXTURES / "results-v2.json"
ENV = {"tensorflow": "2.21.0", "keras": "3.15.1", "numpy": "2.1.3", "cpu": "synthetic", "git_commit": "0000000"}


def fixture_document() -> dict:
    """noise-channels and imdb-l2 where the book holds, imdb-l2 with its knock-out, imdb-l1."""
    out = [check_claim(get_claim("noise-channels"), config("fast")),
           check_claim(get_claim("imdb-l2"), config("fast")),
           check_claim(get_claim("imdb-l2"), config("fast", knockout=True)),
           check_claim(get_claim("imdb-l1"), config("fast"))]
    doc = results.build_document(out, ENV, "20261126T000000Z")
    doc["created"] = "2026-11-26T00:00:00+00:00"
    return doc


def main() -> None:
    FIXTURES.mkdir(exist_ok=True)
    doc = fixture_document()
    RESULTS.write_text(json.dumps(doc, indent=1))
    figures = {markdown.figure_key(c): f"{markdown.figure_key(c)}.png" for c in doc["claims"]}
    (FIXTURES / "report-golden.md").write_text(markdown.render(doc, figures))


if __name__ == "__main__":
    main()
