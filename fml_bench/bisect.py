"""Bisect to the build that did it: over the dated builds of one package (keras-nightly,
tf-nightly) between a good and a bad version, the first build whose chosen claim changed against
the good build (the A/B's rule, `ab_stats`), or whose chosen experiment got slower (alternating
timing rounds against the good build).

Each probed version is installed into a cached virtualenv with the other requirements held fixed
(`--with`), so a bisection that is stopped and started again rebuilds nothing and retrains
nothing. The ends are checked first: when the bad version shows no change against the good one,
there is nothing to find, and the bisection says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from fml_bench import ab, ab_stats, builds

BAD, GOOD = "changed", "as good"


@dataclass(frozen=True)
class Probe:
    """One version's outcome against the good build."""

    version: str
    outcome: str  # BAD or GOOD
    detail: str


@dataclass(frozen=True)
class Bisection:
    package: str
    good: str
    bad: str
    versions: list[str]
    probes: list[Probe]
    first_bad: str | None

    def to_dict(self) -> dict:
        return {"package": self.package, "good": self.good, "bad": self.bad, "versions": self.versions,
                "probes": [asdict(p) for p in self.probes], "first_bad": self.first_bad}

    def summary(self) -> str:
        if self.first_bad is None:
            return (f"nothing changed between {self.package} {self.good} and {self.bad} "
                    f"({len(self.versions)} builds)")
        i = self.versions.index(self.first_bad)
        date = builds.build_date(self.first_bad)
        return (f"first changed build: {self.package} {self.first_bad}" + (f" (of {date})" if date else "")
                + f"; the build before it, {self.versions[i - 1]}, is as good as {self.good}")


def available_versions(package: str) -> list[str]:
    """Every version of `package` on the index, oldest first (pre-releases included)."""
    return builds.index_versions(package, pre=True)


def between(versions: Sequence[str], good: str, bad: str) -> list[str]:
    """The versions from `good` to `bad`, both included, oldest first."""
    from packaging.version import Version

    ordered = sorted(versions, key=Version)
    for end in (good, bad):
        if end not in ordered:
            raise builds.BuildError(f"version {end} is not on the index; nearest: {', '.join(ordered[-5:])}")
    lo, hi = ordered.index(good), ordered.index(bad)
    if hi <= lo:
        raise builds.BuildError(f"the bad version {bad} must be newer than the good one {good}")
    return ordered[lo : hi + 1]


def bisect(versions: Sequence[str], is_bad: Callable[[str], Probe], log: Callable[[str], None] = print
           ) -> tuple[str | None, list[Probe]]:
    """The first bad version, assuming versions[0] good; None when versions[-1] is not bad."""
    probes = [is_bad(versions[-1])]
    log(f"{versions[-1]}: {probes[-1].outcome} ({probes[-1].detail})")
    if probes[-1].outcome != BAD:
        return None, probes
    lo, hi = 0, len(versions) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        probe = is_bad(versions[mid])
        probes.append(probe)
        log(f"{versions[mid]}: {probe.outcome} ({probe.detail}); {hi - mid if probe.outcome == BAD else mid - lo} "
            "build(s) left")
        lo, hi = (lo, mid) if probe.outcome == BAD else (mid, hi)
    return versions[hi], probes


def claim_probe(good_build: builds.Build, make_build: Callable[[str], builds.Build], claim: str,
                part: str | None, tier: str, folder: Path, log: Callable[[str], None]) -> Callable[[str], Probe]:
    """is_bad(version): the claim (or one part) changed against the good build, by the A/B's rule;
    an undecided part counts as changed when its change is nearer the tolerance's far side than zero."""
    good_dir = folder / "good"
    good_dir.mkdir(parents=True, exist_ok=True)
    good_doc = ab.run_claims(good_build, good_dir, tier, [claim], None, log)

    def is_bad(version: str) -> Probe:
        side = folder / version
        side.mkdir(parents=True, exist_ok=True)
        doc = ab.run_claims(make_build(version), side, tier, [claim], None, log)
        flips, parts, _ = ab.compare_effects(good_doc, doc, tier)
        chosen = [p for p in parts if part is None or p.part_id == part]
        moved = [p for p in chosen if p.verdict == ab_stats.CHANGED
                 or (p.verdict == ab_stats.UNDECIDED and abs(p.delta) > p.tolerance)]
        detail = "; ".join(f"{p.part_id} {p.delta:+.4g} [{p.ci_low:+.4g}, {p.ci_high:+.4g}] {p.verdict}"
                           for p in chosen)
        if flips:
            detail += f"; verdict {flips[0].verdict_a} -> {flips[0].verdict_b}"
        return Probe(version, BAD if moved or flips else GOOD, detail)

    return is_bad


def speed_probe(good_build: builds.Build, make_build: Callable[[str], builds.Build], experiment: str, tier: str,
                rounds: int, folder: Path, log: Callable[[str], None], threshold: float) -> Callable[[str], Probe]:
    """is_bad(version): `experiment` is slower than in the good build (alternating rounds)."""

    def is_bad(version: str) -> Probe:
        pair = {"a": good_build, "b": make_build(version)}
        timed = ab.measure_speed(pair, tier, [experiment], rounds, 6, "reference", folder / f"{version}.timings.jsonl",
                                 log)
        change = ab_stats.speed_change(experiment, timed[experiment], 0.95, threshold)
        detail = f"{change.ratio:.3f}x [{change.ratio_low:.3f}, {change.ratio_high:.3f}]"
        return Probe(version, BAD if change.verdict == ab_stats.SLOWER else GOOD, detail)

    return is_bad


def run(package: str, good: str, bad: str, fixed: str, folder: Path, *, claim: str | None = None,
        part: str | None = None, experiment: str | None = None, tier: str = "fast", rounds: int = 6,
        threshold: float = ab_stats.SLOWER_THRESHOLD, versions: Sequence[str] | None = None,
        log: Callable[[str], None] = print) -> Bisection:
    """Bisect `package` from `good` to `bad` (other requirements: `fixed`) on a claim or an experiment."""
    if (claim is None) == (experiment is None):
        raise builds.BuildError("bisect on one thing: a claim (--claim) or an experiment's speed (--experiment)")
    span = between(versions if versions is not None else available_versions(package), good, bad)
    log(f"{len(span)} builds of {package} from {good} to {bad}")
    folder.mkdir(parents=True, exist_ok=True)

    def make_build(version: str) -> builds.Build:
        return builds.resolve(f"{fixed} {package}=={version}".strip(), log=log)

    good_build = make_build(good)
    probe = (claim_probe(good_build, make_build, claim, part, tier, folder, log) if claim is not None
             else speed_probe(good_build, make_build, str(experiment), tier, rounds, folder, log, threshold))
    first_bad, probes = bisect(span, probe, log)
    result = Bisection(package=package, good=good, bad=bad, versions=list(span), probes=probes, first_bad=first_bad)
    (folder / "bisect.json").write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    return result
