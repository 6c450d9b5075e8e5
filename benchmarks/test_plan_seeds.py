"""The seed planner's bookkeeping: plans are written claim by claim and merged into the file."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

from plan_seeds import record_plan


def _entry(n1: int, n2: int, source: str = "pilots") -> dict:
    return {"n1": n1, "n2": n2, "p_pass": 1.0, "p_fail": 1.0, "target_met": True, "pilot": [], "source": source}


def test_a_plan_is_merged_into_the_file_as_it_is_now(tmp_path: Path) -> None:
    plans = tmp_path / "seed_plans.json"
    plans.write_text(json.dumps({"plans": {"book": {"a": {**_entry(5, 8), "changes": []}}}}))
    record_plan(plans, "book", "b", _entry(16, 32))
    record_plan(plans, "book", "b", _entry(64, 128, "more pilots"))
    book = json.loads(plans.read_text())["plans"]["book"]
    assert (book["a"]["n1"], book["b"]["n1"], book["b"]["source"]) == (5, 64, "more pilots")
    assert len(book["b"]["changes"]) == 1 and book["b"]["changes"][0].startswith("(16, 32) until ")


def _write_many(plans: Path, claim_id: str) -> None:
    for n in range(1, 21):
        record_plan(plans, "book", claim_id, _entry(n, 2 * n))


def test_planners_writing_at_once_lose_no_claim(tmp_path: Path) -> None:
    """Two planning processes (as when the cheap claims are planned beside a long one)."""
    plans = tmp_path / "seed_plans.json"
    plans.write_text(json.dumps({"plans": {}}))
    workers = [multiprocessing.get_context("spawn").Process(target=_write_many, args=(plans, c)) for c in "xy"]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    book = json.loads(plans.read_text())["plans"]["book"]
    assert {c: book[c]["n1"] for c in "xy"} == {"x": 20, "y": 20}
    assert len(book["x"]["changes"]) == len(book["y"]["changes"]) == 19
