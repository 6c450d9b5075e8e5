"""The seed planner's bookkeeping: plans are written claim by claim and merged into the file."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
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
    assert len(book["b"]["changes"]) == 1 and book["b"]["changes"][0].startswith("(16, 32) at seeds 0-31 until ")
    assert book["b"]["first_seed"] == 100  # the seed ledger: the new design looks at a fresh block


def test_a_plan_made_by_other_tests_takes_a_fresh_block_of_seeds(tmp_path: Path) -> None:
    plans = tmp_path / "seed_plans.json"
    record_plan(plans, "fast", "c", _entry(128, 256, "t tests"))
    record_plan(plans, "fast", "c", _entry(128, 256, "t tests"))  # the same plan again: nothing spent anew
    assert json.loads(plans.read_text())["plans"]["fast"]["c"]["first_seed"] == 0
    record_plan(plans, "fast", "c", _entry(128, 256, "sign tests"))
    entry = json.loads(plans.read_text())["plans"]["fast"]["c"]
    assert entry["first_seed"] == 300 and entry["changes"][0].startswith("(128, 256) at seeds 0-255 until")


def test_a_design_of_more_looks_replaces_a_two_look_plan_on_a_fresh_block(tmp_path: Path) -> None:
    plans = tmp_path / "seed_plans.json"
    record_plan(plans, "book", "d", _entry(24, 48, "sign tests"))  # written before plans had "looks"
    record_plan(plans, "book", "d", {**_entry(0, 0, "sign tests"), "looks": [10, 20, 40, 80]})
    entry = json.loads(plans.read_text())["plans"]["book"]["d"]
    assert entry["first_seed"] == 100 and entry["changes"][0].startswith("(24, 48) at seeds 0-47 until")
    record_plan(plans, "book", "d", {**_entry(0, 0, "sign tests"), "looks": [10, 20, 40]})
    entry = json.loads(plans.read_text())["plans"]["book"]["d"]
    assert entry["first_seed"] == 200 and entry["changes"][1].startswith("(10, 20, 40, 80) at seeds 100-179 until")


def test_a_knockout_plan_runs_on_its_claims_seeds_so_it_records_no_block_of_its_own(tmp_path: Path) -> None:
    plans = tmp_path / "seed_plans.json"
    record_plan(plans, "fast", "e", _entry(8, 12, "pilots"), section="knockouts")
    record_plan(plans, "fast", "e", _entry(12, 24, "more pilots"), section="knockouts")
    entry = json.loads(plans.read_text())["knockouts"]["fast"]["e"]
    assert "first_seed" not in entry
    assert entry["changes"][0].startswith("(8, 12) at its claim's seeds until ")


def test_the_registered_knockouts_name_no_seeds_the_suite_would_not_use() -> None:
    """The suite runs a knock-out on its claim's block (`SuiteConfig.first_seed`)."""
    from fml_bench.plans import PLANS_FILE

    knockouts = json.loads(PLANS_FILE.read_text())["knockouts"]
    assert [claim for tier in knockouts.values() for claim, entry in tier.items() if "first_seed" in entry] == []


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


def test_the_bound_world_makes_each_test_harder():
    """A claim's pass: a difference part moves against the book by its median's one-sided 95%
    margin, a band outward, a spread toward a larger sd ratio. A knock-out's fail: toward the
    book, toward the band's centre, toward a smaller ratio."""
    import numpy as np
    from scipy import stats as sps

    from fml_bench.hypotheses import Sesoi, greater, less_spread, within
    from fml_bench.metrics import Metric
    from fml_bench.planning import bound_world

    value = Metric("v", "val_loss", lambda r: 0.0)
    rng = np.random.default_rng(0)
    x = rng.normal(0.1, 0.05, 20)
    part = greater("g", "g", value, "a", sesoi={"fast": Sesoi(0.2, "t")})
    down, _ = bound_world(part, x, None, rng, "fast")
    margin = np.median(x) - np.sort(x)[int(sps.binom.ppf(0.05, 20, 0.5)) - 1]
    assert np.median(down) == pytest.approx(np.median(x) - margin) and margin > 0.01
    up, _ = bound_world(part, x, None, rng, "fast", toward_book=True)
    assert np.median(up) == pytest.approx(np.median(x) + margin)
    band = within("w", "w", value, "a", center=0.0, half_width=0.05, source="t")
    inward, _ = bound_world(band, x, None, rng, "fast", toward_book=True)
    assert 0 <= np.mean(inward) < np.mean(x)
    outward, _ = bound_world(band, x, None, rng, "fast")
    assert np.mean(outward) > np.mean(x)
    a, b = rng.normal(0, 1, 30), rng.normal(0, 1, 30)
    spread = less_spread("s", "s", value, "a", "b", sesoi={"fast": Sesoi(0.3, "t")})
    narrower, same_b = bound_world(spread, a, b, rng, "fast", toward_book=True)
    assert np.std(narrower) < np.std(a) and np.array_equal(same_b, b)
    wider, _ = bound_world(spread, a, b, rng, "fast")
    assert np.std(wider) > np.std(a)


def test_pilots_of_two_machines_pool_seed_for_seed_and_name_both(tmp_path: Path) -> None:
    # a plan made on one CPU's pilots must hold on another's (`plan_seeds.py --pool`)
    import numpy as np

    from fml_bench.claims import get_claim
    from fml_bench.pilot_values import load_values, pooled, record_values
    from fml_bench.records import RunRecord

    claim = get_claim("noise-channels")
    path = tmp_path / "values.json"

    def runs(seeds, cpu):
        return {"mnist-zero-channels": [RunRecord("mnist-zero-channels", "h", s, "stacked", {}, [], 1.0,
                                                  {"cpu": cpu}) for s in seeds]}

    record_values("plans", "book", claim, runs([0, 1], "CPU one"), [(np.array([0.1, 0.2]), np.array([0.0, 0.1]))],
                  [False], path=path)
    earlier = load_values("plans", "book", claim, path=path)
    second = runs([200], "CPU two")
    second["mnist-zero-channels"][0].env["cpu_features"] = "avx2 fma"  # one model name, two vector units
    values, same = pooled(earlier, [(np.array([0.3]), np.array([0.4]))], [False])
    origin = record_values("plans", "book", claim, second, values, same, path=path, earlier_origin=earlier[2])
    (a, b), = load_values("plans", "book", claim, path=path)[0]
    assert a.tolist() == [0.1, 0.2, 0.3] and b.tolist() == [0.0, 0.1, 0.4]
    assert "CPU one" in origin and "CPU two (avx2 fma)" in origin


def test_a_plan_from_two_machines_pilots_must_hold_at_each():
    # epochs of a minimum: always earlier on one machine, earlier in three seeds of four on the
    # other (as imdb-larger's book tier on a Zen 4 and a Zen 3): their mixture meets the targets
    # with fewer seeds than the weaker machine alone needs
    import numpy as np

    from fml_bench.hypotheses import Sesoi, less
    from fml_bench.metrics import Metric
    from fml_bench.planning import PASS_TARGET, plan_claim
    from fml_bench.simulation import simulate
    from fml_bench.stats import SequentialDesign

    epoch = Metric("e", "val_loss", lambda r: 0.0, discrete=True)
    part = less("earlier", "earlier", epoch, "a", "b", sesoi={"fast": Sesoi(1, "t")})
    strong = (np.full(30, 3.0), np.full(30, 5.0))
    weak = (np.array([3.0, 3.0, 3.0, 5.0] * 12), np.full(48, 4.0))
    pooled = [(np.concatenate([strong[0], weak[0]]), np.concatenate([strong[1], weak[1]]))]
    alpha = 0.05 / 15
    mixed = plan_claim([part], pooled, "fast", alpha, 400, 1, max_seeds=128)
    both = plan_claim([part], pooled, "fast", alpha, 400, 1, max_seeds=128, machines=[[strong], [weak]])
    assert both["target_met"] and min(both["p_pass_machines"]) >= PASS_TARGET
    weak_design = SequentialDesign.of(mixed["looks"], alpha)
    assert simulate([part], [weak], "fast", weak_design, 400, np.random.default_rng(2)).p_pass < PASS_TARGET
    assert both["looks"][-1] > mixed["looks"][-1]
