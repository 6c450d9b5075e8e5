"""Reports: golden markdown from a stored results fixture, figures, schema validation,
the `latest` pointer, and the baseline comparison (flip, drift, slow-down, unchanged)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from fml_bench.report import compare, figures, markdown, results
from fml_bench.report.run import render_folder, write_run_report
from tests.make_fixtures import FIXTURES, RESULTS, fixture_document


@pytest.fixture
def doc() -> dict:
    return results.load(RESULTS)


def test_fixture_is_reproducible(doc):
    assert fixture_document() == doc


def test_markdown_matches_the_golden_file(doc):
    names = {markdown.figure_key(c): f"{markdown.figure_key(c)}.png" for c in doc["claims"]}
    assert markdown.render(doc, names) == (FIXTURES / "report-golden.md").read_text()


def test_summary_table_comes_first_and_images_are_relative(doc):
    text = markdown.render(doc, {"noise-channels-fast": "noise-channels-fast.png"})
    assert text.index("| claim") < text.index("## noise-channels")
    assert "](noise-channels-fast.png)" in text and "](/" not in text


def test_figures_are_written_and_not_empty(tmp_path, doc):
    for claim in doc["claims"]:
        path = figures.plot_claim(claim, tmp_path)
        assert path.stat().st_size > 10_000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figure_panels_follow_the_measured_metrics(doc):
    assert figures.claim_keys(doc["claims"][0]) == ["val_accuracy"]
    assert figures.claim_keys(doc["claims"][1]) == ["val_loss"]


def test_holm_covers_the_family_only(doc):
    family = [c for c in doc["claims"] if results.is_confirmatory(c)]
    assert [c["claim_id"] for c in family] == ["noise-channels", "imdb-l2"]
    assert all(c["p_adjusted"] is None for c in doc["claims"] if not results.is_confirmatory(c))
    text = markdown.render(doc, {})
    assert "Measurements and knock-outs" in text and "knock-out: L2 factor 0" not in text
    assert "**Knock-out:** L2 factor 0 (the claim must fail)." in text


@pytest.mark.parametrize("breakage", ["version", "verdict", "missing", "type"])
def test_schema_validation_rejects_broken_documents(doc, breakage):
    bad = copy.deepcopy(doc)
    if breakage == "version":
        bad["schema_version"] = 99
    elif breakage == "verdict":
        bad["claims"][0]["verdict"] = "maybe"
    elif breakage == "missing":
        del bad["claims"][0]["parts"][0]["p"]
    else:
        bad["claims"][0]["seeds"] = "ten"
    with pytest.raises(results.SchemaError):
        results.validate(bad)


def test_report_folder_latest_pointer_and_history(tmp_path):
    from fml_bench.claims import get_claim
    from fml_bench.suite import check_claim
    from tests.test_claims_can_fail import config

    result = check_claim(get_claim("more-data"), config("fast"))
    folder, regressions = write_run_report([result], tmp_path, run_id="run1")
    assert regressions == []
    assert {p.name for p in folder.iterdir()} >= {"report.md", "results.json", "more-data-fast.png"}
    assert (tmp_path / "latest").resolve() == folder.resolve()
    results.load(folder)  # valid against the schema
    write_run_report([result], tmp_path, run_id="run2")
    assert (tmp_path / "latest").resolve().name == "run2"
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    assert [json.loads(x)["run_id"] for x in lines] == ["run1", "run2"]


def _bench(name: str, median: float, data=None) -> dict:
    return {"name": name, "fullname": f"benchmarks/timing::{name}", "stats": {"median": median, "data": data}}


def test_unchanged_run_reports_nothing(doc):
    comparison = compare.compare(doc, copy.deepcopy(doc))
    assert comparison.findings == []
    assert "No verdict flipped" in compare.render(comparison)


def test_a_flip_is_a_regression(doc):
    current = copy.deepcopy(doc)
    current["claims"][0]["verdict"] = "fail"
    comparison = compare.compare(doc, current)
    assert [f.kind for f in comparison.findings] == ["flip"]
    assert comparison.regressions and "pass -> fail" in comparison.findings[0].detail


def test_a_flip_to_inconclusive_is_a_warning_not_a_regression(doc):
    current = copy.deepcopy(doc)
    current["claims"][0]["verdict"] = "inconclusive"
    comparison = compare.compare(doc, current)
    assert [f.kind for f in comparison.findings] == ["flip"] and not comparison.regressions
    assert "rerun" in comparison.findings[0].detail


def test_drift_is_paired_by_seed_and_holm_corrected(doc):
    current = copy.deepcopy(doc)
    part = current["claims"][0]["parts"][0]
    # a shift far below the seed-to-seed spread, but the same on every seed: paired, it shows
    part["values_a"] = [v - 0.002 + 0.0004 * (-1) ** i for i, v in enumerate(part["values_a"])]
    findings = compare.compare(doc, current).findings
    assert [f.kind for f in findings] == ["drift"] and "paired t over 10 seeds" in findings[0].detail
    assert "Holm p=" in findings[0].detail
    # the same shift between runs on different seeds is not distinguishable from noise
    other = copy.deepcopy(current)
    other["claims"][0]["first_seed"] = 100
    assert [f.kind for f in compare.compare(doc, other).findings] == []


def test_a_drift_beyond_seed_variation_is_found(doc):
    current = copy.deepcopy(doc)
    part = current["claims"][0]["parts"][0]
    part["values_a"] = [v - 0.02 for v in part["values_a"]]
    kinds = [f.kind for f in compare.compare(doc, current).findings]
    assert kinds == ["drift"]


def test_a_slowdown_is_a_regression_and_noise_is_not(doc):
    base, cur = copy.deepcopy(doc), copy.deepcopy(doc)
    base["benchmarks"] = {"benchmarks": [_bench("fit", 1.0, [1.0, 1.01, 0.99] * 5), _bench("noisy", 1.0)]}
    cur["benchmarks"] = {"benchmarks": [_bench("fit", 1.5, [1.5, 1.52, 1.49] * 5), _bench("noisy", 1.1)]}
    comparison = compare.compare(base, cur)
    assert [(f.kind, f.subject) for f in comparison.findings] == [("slowdown", "fit")]
    assert comparison.regressions


def test_regenerating_from_results_json(tmp_path, doc):
    (tmp_path / "results.json").write_text(json.dumps(doc))
    render_folder(tmp_path, doc)
    assert Path(tmp_path / "report.md").read_text().startswith("# fml-bench report")


def test_a_knockout_with_identical_arms_renders_without_an_interval(doc):
    knocked = next(c for c in doc["claims"] if c.get("knockout"))
    part = knocked["parts"][0]
    part.update(test="identical arms", ci_low=None, ci_high=None, estimate=0.0)
    assert "+0 (identical arms)" in markdown.render(doc, {})


def test_the_report_says_when_records_were_made_under_other_software(doc):
    # Issue 10: the environment section showed the *current* versions for records made under TF 2.16.
    older = copy.deepcopy(doc)
    first = older["claims"][0]
    (key, fp), = first["environments"].items()
    first["environments"] = {"0ld": {**fp, "tensorflow": "2.16.2", "keras": "3.3.3"}}
    text = markdown.records_made_under(older)
    assert "TF 2.16.2, Keras 3.3.3" in text
    assert "records used were made under keras 3.3.3, tensorflow 2.16.2, not this run's" in text
    assert "2 environments" in text
    assert "Every record used was made under this run's" in markdown.records_made_under(doc)


def test_a_document_from_before_fingerprints_still_loads_and_says_so(tmp_path, doc):
    old = copy.deepcopy(doc)
    for claim in old["claims"]:
        del claim["environments"]
    (tmp_path / "results.json").write_text(json.dumps(old))
    assert "carry no fingerprint" in markdown.records_made_under(results.load(tmp_path))


def test_timings_of_unlike_machines_are_not_judged(doc):
    base, cur = copy.deepcopy(doc), copy.deepcopy(doc)
    base["benchmarks"] = {"machine_info": {"cpu": {"brand_raw": "AMD EPYC 7763", "count": 2}},
                          "benchmarks": [_bench("fit", 1.0, [1.0, 1.01, 0.99] * 5)]}
    cur["benchmarks"] = {"machine_info": {"cpu": {"brand_raw": "Intel Xeon 8370C", "count": 2}},
                         "benchmarks": [_bench("fit", 1.5, [1.5, 1.52, 1.49] * 5)]}
    comparison = compare.compare(base, cur)
    assert [f.kind for f in comparison.findings] == ["machine"] and not comparison.regressions
    assert "Intel Xeon 8370C" in comparison.findings[0].detail
    cur["benchmarks"]["machine_info"] = base["benchmarks"]["machine_info"]
    assert compare.compare(base, cur).regressions  # the same slow-down on a like machine counts


def test_a_claim_id_with_a_path_in_it_writes_no_file_outside_the_report(tmp_path, doc):
    """Issue 21: a claim_id of '../../ESCAPED' made `fml-bench report` write two folders up."""
    import copy
    import json

    from fml_bench import cli

    hostile = copy.deepcopy(doc)
    hostile["claims"][0]["claim_id"] = "../../ESCAPED"
    folder = tmp_path / "a" / "b" / "run"
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(hostile))
    cli.main(["report", str(folder)])
    written = list(tmp_path.rglob("*ESCAPED*"))
    assert written and all(p.parent == folder for p in written)


def test_the_summary_shows_each_effect_on_its_sesois_scale_in_the_books_direction():
    """Issue 20: kfold-variance's effect +0.328 (an sd ratio) stood beside a SESOI of 0.35 (log
    units), and overfit-capacity's -0.094 beside +0.046, so a pass read as a contradiction."""
    import math

    spread = {"part_id": "4-fold-less-spread", "estimate": 0.328, "ci_low": 0.276, "ci_high": 0.389}
    value, low, high = markdown.oriented({"claim_id": "kfold-variance"}, spread)
    assert value == pytest.approx(-math.log(0.328)) and low < value < high and value > 0.35
    lower = {"part_id": "beats-logreg", "estimate": -0.0934, "ci_low": -0.102, "ci_high": -0.0845}
    value, low, high = markdown.oriented({"claim_id": "overfit-capacity"}, lower)
    assert (value, low, high) == pytest.approx((0.0934, 0.0845, 0.102)) and value > 0.046
    band = {"part_id": "late-plateau", "estimate": -0.0005, "ci_low": -0.001, "ci_high": 0.0001}
    value, low, high = markdown.oriented({"claim_id": "underfit-logreg"}, band)
    assert (value, low, high) == pytest.approx((0.0025, 0.002, 0.003))
    assert markdown.oriented({"claim_id": "no-longer-registered"}, lower) is None


def test_the_report_names_the_seed_batching_engine_that_trained_the_runs():
    assert "vectorised engine" in " ".join(markdown.engine_notice({"engines": ["vectorised"]}))
    assert "stacked engine" in " ".join(markdown.engine_notice({"engines": ["stacked"]}))
    assert markdown.engine_notice({"engines": ["reference"]}) == []


def test_a_report_rewritten_as_claims_finish_draws_each_figure_once(tmp_path, doc, monkeypatch):
    drawn = []
    plot = figures.plot_claim

    def counting(claim, folder):
        drawn.append(markdown.figure_key(claim))
        return plot(claim, folder)

    monkeypatch.setattr(figures, "plot_claim", counting)
    plotted: dict[str, str] = {}
    for k in range(1, len(doc["claims"]) + 1):  # as RunReport.add rewrites it after each claim
        render_folder(tmp_path, {**doc, "claims": doc["claims"][:k]}, plotted=plotted)
    keys = [markdown.figure_key(c) for c in doc["claims"]]
    assert len(keys) > 1 and drawn == keys
    changed = copy.deepcopy(doc)
    changed["claims"][0]["verdict"] = "fail"  # its title says the verdict: drawn again
    render_folder(tmp_path, changed, plotted=plotted)
    assert drawn == [*keys, keys[0]]
    assert "report.md" in {p.name for p in tmp_path.iterdir()}
