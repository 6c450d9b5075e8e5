"""The A/B report: ab.json (machine-readable), ab.md (what a maintainer reads first: alarms,
verdicts side by side, each part's change, each experiment's time ratio) and ab.png (effects of
both builds with their intervals; time ratios)."""

from __future__ import annotations

import json
from pathlib import Path

from tabulate import tabulate

from fml_bench import ab_stats
from fml_bench.ab import ABResult
from fml_bench.report.results import json_safe
from fml_bench.report.run import append_history_line, history_line

MARK = {ab_stats.UNCHANGED: "=", ab_stats.CHANGED: "CHANGED", ab_stats.UNDECIDED: "?",
        ab_stats.SLOWER: "SLOWER", ab_stats.FASTER: "faster", ab_stats.SAME_SPEED: "="}


def append_history(result: ABResult, path: Path) -> None:
    """One history line for build B: its claims' verdicts and main effects (as `fml-bench check`
    writes them) and each experiment's seconds per epoch with its ratio to A, so that `fml-bench
    history` follows effects and timings night after night."""
    import datetime as dt

    b = result.builds["b"]
    line = history_line(result.results_b) if result.results_b else {"claims": {}}
    line.update(run_id=line.get("run_id") or f"ab-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}",
                created=line.get("created") or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                tensorflow=b["versions"].get("tensorflow"), keras=b["versions"].get("keras"),
                keras_backend=line.get("keras_backend") or "tensorflow", ab_against=result.builds["a"]["describe"],
                timings={s.experiment: {"seconds": s.seconds_b, "ratio": s.ratio, "ratio_low": s.ratio_low,
                                        "ratio_high": s.ratio_high, "verdict": s.verdict} for s in result.speed})
    path.parent.mkdir(parents=True, exist_ok=True)
    append_history_line(path, json_safe(line))


def write(result: ABResult, folder: Path) -> Path:
    """Write ab.json, ab.png and ab.md into `folder`; returns the markdown's path."""
    (folder / "ab.json").write_text(json.dumps(json_safe(result.to_dict()), indent=1) + "\n")
    figure = _figure(result, folder / "ab.png")
    page = folder / "ab.md"
    page.write_text(render(result, figure.name if figure else None))
    return page


def render(result: ABResult, figure: str | None) -> str:
    a, b = result.builds["a"], result.builds["b"]
    lines = [f"# A/B: {a['describe']} (A) against {b['describe']} (B)", "",
             f"Tier `{result.tier}`; A = `{a['label']}`, B = `{b['label']}`.", ""]
    if result.alarms:
        lines += ["## Alarms", ""] + [f"- {x}" for x in result.alarms] + [""]
    else:
        lines += ["**No alarm**: no claim flips to fail, no part changed away from the book, "
                  "no experiment slower.", ""]
    if figure:
        lines += [f"![effects and time ratios]({figure})", ""]
    if result.verdicts:
        rows = [[cid, v["a"], v["b"], "FLIP" if v["a"] != v["b"] else ""] for cid, v in result.verdicts.items()]
        lines += ["## Verdicts", "", tabulate(rows, headers=["claim", "A", "B", ""], tablefmt="github"), ""]
    if result.parts:
        conf = result.parts[0].confidence
        lines += ["## Effects, paired by seed", "",
                  f"Change = effect(B) - effect(A) on the part's oriented scale, with its {conf:.2%} interval "
                  "(Bonferroni over the parts); *unchanged* inside +/- the tolerance (half the part's smallest "
                  "effect of interest), *changed* wholly outside it.", ""]
        rows = [[f"{p.claim_id} / {p.part_id}", str(p.seeds), f"{p.effect_a:+.4g}", f"{p.effect_b:+.4g}",
                 f"{p.delta:+.4g} [{p.ci_low:+.4g}, {p.ci_high:+.4g}]", f"{p.tolerance:.3g}",
                 MARK[p.verdict] + (f" ({p.direction})" if p.direction else "")] for p in result.parts]
        lines += [tabulate(rows, headers=["claim / part", "seeds", "A", "B", "change [interval]", "tolerance",
                                          "verdict"], tablefmt="github", disable_numparse=True), ""]
    if result.speed:
        s0 = result.speed[0]
        lines += ["## Speed, alternating rounds", "",
                  f"Seconds per epoch (median over {s0.rounds} rounds of each round's fastest epoch, one seed, the "
                  "first epoch dropped); ratio B/A "
                  f"with its {s0.confidence:.2%} interval over rounds; *slower* when the interval's lower bound "
                  f"exceeds {s0.threshold:g}. Power: the chance to flag a true 1.2x slow-down at the measured "
                  "round-to-round noise.", ""]
        rows = [[s.experiment, f"{s.seconds_a:.4g}", f"{s.seconds_b:.4g}",
                 f"{s.ratio:.3f} [{s.ratio_low:.3f}, {s.ratio_high:.3f}]", f"{s.power_at_1_2x:.2f}", MARK[s.verdict]]
                for s in result.speed]
        lines += [tabulate(rows, headers=["experiment", "A s/epoch", "B s/epoch", "B/A [interval]",
                                          "power at 1.2x", "verdict"], tablefmt="github", disable_numparse=True), ""]
    if result.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in result.notes] + [""]
    lines += ["## Builds", ""]
    for side, info in result.builds.items():
        versions = ", ".join(f"{k} {v}" for k, v in sorted(info["versions"].items()))
        lines.append(f"- {side.upper()}: `{info['label']}` ({info['python']}): {versions}")
    return "\n".join(lines) + "\n"


def _figure(result: ABResult, path: Path) -> Path | None:
    if not result.parts and not result.speed:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in (result.parts, result.speed) if p]
    heights = [max(2.0, 0.32 * len(p) + 1) for p in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, sum(heights)), height_ratios=heights, squeeze=False)
    ax_iter = iter(axes[:, 0])
    if result.parts:
        ax = next(ax_iter)
        for i, p in enumerate(result.parts):
            scale = max(abs(p.effect_a), abs(p.effect_b), p.tolerance, 1e-12)
            color = "#d62728" if p.alarm else "#2ca02c" if p.verdict == ab_stats.CHANGED else "#1f77b4"
            ax.errorbar([p.delta / scale], [i], xerr=[[(p.delta - p.ci_low) / scale], [(p.ci_high - p.delta) / scale]],
                        fmt="o", color=color, capsize=3)
            ax.plot([-p.tolerance / scale, p.tolerance / scale], [i, i], color="#999999", lw=6, alpha=0.3)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(range(len(result.parts)), [f"{p.claim_id}/{p.part_id}" for p in result.parts], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("change B - A, in units of the larger |effect| (grey: tolerance)")
        ax.set_title("Effects paired by seed")
    if result.speed:
        ax = next(ax_iter)
        for i, s in enumerate(result.speed):
            color = "#d62728" if s.alarm else "#2ca02c" if s.verdict == ab_stats.FASTER else "#1f77b4"
            ax.errorbar([s.ratio], [i], xerr=[[s.ratio - s.ratio_low], [s.ratio_high - s.ratio]], fmt="o",
                        color=color, capsize=3)
        ax.axvline(1, color="black", lw=0.8)
        ax.axvline(result.speed[0].threshold, color="#d62728", lw=0.8, ls="--")
        ax.set_yticks(range(len(result.speed)), [s.experiment for s in result.speed], fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("time per epoch, B / A (dashed: the slower threshold)")
        ax.set_title("Speed, alternating rounds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
