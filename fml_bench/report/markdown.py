"""report.md from a results document: the summary table first, then one section per claim."""

from __future__ import annotations

import math

from tabulate import tabulate

from fml_bench.provenance import describe
from fml_bench.report.claim_results import PartResult, describe_part
from fml_bench.report.results import is_confirmatory

VERDICT_MARK = {"pass": "✅ pass", "fail": "❌ fail", "inconclusive": "❔ inconclusive", "measured": "📏 measured"}


def _fmt_p(p) -> str:
    return "n/a" if p is None else f"{p:.2g}"


def _effect(part: dict) -> str:
    if part["estimate"] is None:
        return "n/a"
    if part["ci_low"] is None or part["ci_high"] is None:
        reason = "identical arms" if part.get("test") == "identical arms" else "no spread"
        return f"{part['estimate']:+.3g} ({reason})"
    return f"{part['estimate']:+.3g} [{part['ci_low']:+.3g}, {part['ci_high']:+.3g}]"


def oriented(claim: dict, part: dict) -> tuple[float, float, float] | None:
    """The part's effect and interval on the scale its SESOI is on, positive in the book's direction:
    sign * (difference - null) for a difference; log(sd(b) / sd(a)) for a spread (the estimate is
    the ratio sd(a) / sd(b)); the room left inside the band, half-width - |mean - centre|, for a
    band. None for a claim or part no longer registered (the raw estimate is shown then)."""
    from fml_bench.claims import get_claim
    from fml_bench.errors import UnknownNameError
    from fml_bench.hypotheses import Kind

    try:
        registered = {p.id: p for p in get_claim(claim["claim_id"]).parts}
    except UnknownNameError:
        return None
    spec = registered.get(part.get("part_id", ""))
    est, low, high = part.get("estimate"), part.get("ci_low"), part.get("ci_high")
    if spec is None or est is None:
        return None
    nan = float("nan")
    low = nan if low is None else low
    high = nan if high is None else high
    if spec.kind is Kind.LESS_SPREAD:
        if not est > 0:
            return None
        return -math.log(est), (-math.log(high) if high > 0 else nan), (-math.log(low) if low > 0 else nan)
    if spec.kind is Kind.WITHIN:  # room(v) is concave: its range over [low, high] ends at the ends or the centre
        def room(v: float) -> float:
            return spec.half_width - abs(v - spec.null)

        top = spec.half_width if low <= spec.null <= high else max(room(low), room(high))
        return room(est), min(room(low), room(high)), top
    sign = spec.direction.sign
    ends = sorted([sign * (low - spec.null), sign * (high - spec.null)])
    return sign * (est - spec.null) + 0.0, ends[0], ends[1]  # + 0.0: no "-0" for a zero effect


def _oriented_effect(claim: dict, part: dict) -> str:
    found = oriented(claim, part)
    if found is None:
        return _effect(part)
    value, low, high = found
    if math.isnan(low) or math.isnan(high):
        reason = "identical arms" if part.get("test") == "identical arms" else "no spread"
        return f"{value:+.3g} ({reason})"
    return f"{value:+.3g} [{low:+.3g}, {high:+.3g}]"


def _sesoi_cell(claim: dict, part: dict) -> str:
    """The SESOI on the oriented scale: for a band the room must stay above 0 (inside +/- half-width)."""
    if part.get("sesoi") is None:
        return "n/a"
    if part.get("test") == "TOST":
        return f"room > 0 (band ±{part['sesoi']:.3g})"
    return f"{part['sesoi']:.3g}"


def verdict_label(claim: dict) -> str:
    label = VERDICT_MARK[claim["verdict"]]
    return f"{label} (known divergence)" if claim.get("known_divergence") else label


def _anchor(c: dict) -> str:
    suffix = "-knock-out" if c.get("knockout") else ""
    return f"{c['claim_id']}-{c['tier']}-tier{suffix}"


def summary_table(doc: dict, claims: list[dict] | None = None) -> str:
    """One row per claim: its first part's metric, effect and SESOI stand for the claim, the effect
    on the SESOI's scale and positive in the book's direction (`oriented`), so that a pass reads
    as an effect above its SESOI and a fail as one below it."""
    rows = []
    for c in doc["claims"] if claims is None else claims:
        main = c["parts"][0]
        rows.append([
            f"[{c['claim_id']}](#{_anchor(c)})", c["section"], c["tier"], main["metric"],
            _oriented_effect(c, main) + (f" (+{len(c['parts']) - 1} more)" if len(c["parts"]) > 1 else ""),
            _sesoi_cell(c, main),
            _fmt_p(c["p_adjusted"]), c["seeds"], verdict_label(c), f"{c['wall_seconds']:.0f}s",
        ])
    headers = ["claim", "book section", "tier", "metric", "effect in the book's direction [interval at the level]",
               "smallest effect of interest (same scale)",
               "Holm p", "seeds", "verdict", "training time"]
    return tabulate(rows, headers=headers, tablefmt="github")


def claim_section(c: dict, figure_name: str | None) -> str:
    title = f"## {c['claim_id']} ({c['tier']} tier{', knock-out' if c.get('knockout') else ''})"
    lines = [title, "",
             f"**Book, section {c['section']}:** {c['statement']} ({c['book_says']}.)", "",
             f"**Verdict:** {verdict_label(c)}: p = {_fmt_p(c['p'])} (largest of its parts; Holm-adjusted "
             f"{_fmt_p(c['p_adjusted'])}) at level {c['level']:.2g}, {c['seeds']} seeds, engine {c['engine']}.", ""]
    if c.get("datasets"):
        lines += [f"**Data:** {', '.join(c['datasets'])}.", ""]
    first = c.get("first_seed", 0)
    seeds = f"**Seeds:** {first}-{first + c['seeds'] - 1}"
    if c.get("seed_ledger"):
        seeds += (" (a fresh block: the looks of earlier designs of this claim's plan are not looked at "
                  "again; earlier: " + "; ".join(c["seed_ledger"]) + ")")
    lines += [seeds + ".", ""]
    if c.get("knockout"):
        lines += [f"**Knock-out:** {c['knockout']} (the claim must fail).", ""]
    if c.get("known_divergence"):
        lines += [f"**Known divergence:** {c['known_divergence']}", ""]
    rows = []
    for p in c["parts"]:
        rows.append([p["verdict"], describe_part(PartResult.from_dict(p)), p["test"],
                     "n/a" if p.get("prob_improvement") is None else f"{p['prob_improvement']:.2f}",
                     _fmt_p(p.get("cross_check_p"))])
    lines.append(tabulate(rows, headers=["part", "what was measured", "test", "P(A better)",
                                         "cross-check p"], tablefmt="github"))
    if figure_name:
        lines += ["", f"![{c['claim_id']}]({figure_name})"]
    return "\n".join(lines)


def figure_key(c: dict) -> str:
    return f"{c['claim_id']}-{c['tier']}" + ("-knockout" if c.get("knockout") else "")


def environment_table(env: dict) -> str:
    return tabulate(sorted(env.items()), headers=["", ""], tablefmt="github")


SOFTWARE = ("tensorflow", "keras", "numpy")


def records_made_under(doc: dict) -> str:
    """Where the stored records a report rests on were made, and whether that is this process.

    A run reuses stored records only under its own fingerprint, so a mismatch means records came
    from an older fml-bench (before fingerprints) or a results.json assembled elsewhere."""
    seen: dict[str, tuple[dict, list[str]]] = {}
    for c in doc["claims"]:
        for key, fp in (c.get("environments") or {}).items():
            seen.setdefault(key, (fp, []))[1].append(figure_key(c))
    if not seen:
        return "The records carry no fingerprint (made before fml-bench recorded one)."
    rows = [[key, describe(fp), len(claims)] for key, (fp, claims) in sorted(seen.items())]
    table = tabulate(rows, headers=["fingerprint", "records made under", "claims"], tablefmt="github")
    env = doc["env"]
    differ = sorted({f"{k} {fp.get(k)}" for fp, _ in seen.values() for k in SOFTWARE if fp.get(k) != env.get(k)})
    engines = {(fp.get("engine"), fp.get("engine_version")) for fp, _ in seen.values()}
    notes = []
    if differ:
        notes.append(f"**Warning:** records used were made under {', '.join(differ)}, not this run's "
                     f"{', '.join(f'{k} {env.get(k)}' for k in SOFTWARE)}.")
    if len({tuple(fp.get(k) for k in (*SOFTWARE, 'keras_backend')) for fp, _ in seen.values()}) > 1:
        notes.append(f"**Warning:** the records come from {len(seen)} environments; claims compared across "
                     "them mix versions.")
    elif len(seen) > 1 and len(engines) > 1:
        notes.append("Records of different engines (or datasets) share one software environment.")
    if not notes:
        notes.append("Every record used was made under this run's TensorFlow, Keras and numpy.")
    return "\n\n".join([table, *notes])


def incomplete_notice(doc: dict) -> list[str]:
    """Lines that say a run is unfinished and which claims could not be checked (empty otherwise)."""
    out = []
    if doc.get("complete") is False:
        planned = doc.get("planned_claims")
        done = len(doc["claims"]) + len(doc.get("errors") or [])
        of = f" of {planned}" if planned else ""
        out += [f"**Incomplete run:** {done}{of} claims finished when this report was written (the run was "
                "still going, or was stopped); finished seeds are in the store and a rerun continues from them.", ""]
    for err in doc.get("errors") or []:
        out += [f"**Not checked: {err['claim_id']} ({err['tier']} tier):** {err['error']}", ""]
    return out


ENGINE_NOTICES = {
    "stacked": "The stacked engine trained these runs: many seeds of one experiment in one TensorFlow graph, "
               "each with the initial weights, shuffles and dropout masks of its own `model.fit`",
    "vectorised": "The vectorised engine trained these runs: many seeds of one experiment through Keras' "
                  "stateless API vmapped over the seeds (jax or torch), each with the initial weights and "
                  "shuffles of its own `model.fit`",
}


def engine_notice(doc: dict) -> list[str]:
    """Which loop trained the runs, when it is not the notebook's own `model.fit`."""
    out = []
    for engine in doc["engines"]:
        if engine in ENGINE_NOTICES:
            out += [f"{ENGINE_NOTICES[engine]}; its claim metrics are tested equivalent to keras' `model.fit` "
                    "(`benchmarks/test_engine_equivalence.py`). `--engine reference` runs the notebook's own "
                    "loop.", ""]
    return out


def render(doc: dict, figures: dict[str, str], comparison: str | None = None) -> str:
    """The whole report.md. figures: claim_id-tier -> figure file name (relative)."""
    family = [c for c in doc["claims"] if is_confirmatory(c)]
    others = [c for c in doc["claims"] if not is_confirmatory(c)]
    counts = {v: sum(c["verdict"] == v for c in family) for v in ("pass", "fail", "inconclusive")}
    out = [f"# fml-bench report {doc['run_id']}", "",
           f"Deep Learning with Python (2nd ed.), chapter 5, checked over seeds. Created {doc['created']}; "
           f"tier {', '.join(doc['tiers'])}; engine {', '.join(doc['engines'])}; "
           f"{counts['pass']} pass, {counts['fail']} fail, {counts['inconclusive']} inconclusive.", "",
           "Each claim is tested at the run's family-wise level divided among the registered claims "
           "(Bonferroni, split over the looks of a sequential design), for *pass* (the effect lies beyond zero "
           "in the book's direction) and for *fail* (it lies short of the smallest effect of interest, each "
           "of a claim's k parts at the level / k); the table shows Holm-adjusted p. Intervals are two-sided "
           "with each tail at the claim's level (99.8% at 0.001), so they show what the decision saw: a "
           "difference passes when its median's interval lies beyond zero in the book's direction (ties aside).", "",
           *engine_notice(doc),
           *incomplete_notice(doc),
           summary_table(doc, family), ""]
    if others:
        out += ["Measurements and knock-outs (outside the family; a knock-out must fail):", "",
                summary_table(doc, others), ""]
    if comparison:
        out += [comparison, ""]
    for c in doc["claims"]:
        out += [claim_section(c, figures.get(figure_key(c))), ""]
    out += ["## Environment", "", environment_table(doc["env"]), "", "### Records used", "",
            records_made_under(doc), ""]
    return "\n".join(out)
