"""Checking claims: run each claim's experiments through the store under its two-stage
design and return its verdict. Claims that share an experiment share its stored runs."""

from __future__ import annotations

from dataclasses import dataclass

from fml_bench.claims import CLAIMS, INCONCLUSIVE, Claim, ClaimResult, evaluate
from fml_bench.experiments import get_spec
from fml_bench.runner import Progress, run_experiment
from fml_bench.stats import TwoStageDesign
from fml_bench.store import RunStore
from fml_bench.tiers import Tier


@dataclass(frozen=True)
class SuiteConfig:
    """Knobs of one suite run (from the command line or pytest options).

    alpha: the family-wise error rate of the whole run; each claim is tested at
    alpha / (number of registered claims) (Bonferroni; the report adds Holm-adjusted p),
    split over the two looks of its design. seeds: (n1, n2) overriding every claim's own.
    """

    tier: Tier
    store: RunStore
    engine_override: str | None = None
    alpha: float = 0.05
    seeds: tuple[int, int] | None = None
    base_seed: int = 0

    @property
    def engine(self) -> str:
        return self.engine_override or self.tier.engine

    def design(self, claim: Claim) -> TwoStageDesign:
        n1, n2 = self.seeds or claim.seeds[self.tier.name]
        return TwoStageDesign(n1=n1, n2=max(n1, n2), alpha=self.alpha / len(CLAIMS))


def check_claim(claim: Claim, config: SuiteConfig, progress: Progress | None = None) -> ClaimResult:
    """Run the claim's experiments (first look, then the second if undecided) and test it.

    The result's wall_seconds is the training time of the runs it rests on (cached runs count
    with the time they took when computed).
    """
    design = config.design(claim)
    looks = [design.n1] + ([design.n2] if design.n2 > design.n1 else [])
    result = None
    for n in looks:
        seeds = list(range(config.base_seed, config.base_seed + n))
        specs = [get_spec(name, config.tier) for name in claim.experiments()]
        runs = {spec.name: run_experiment(spec, seeds, config.store, config.engine, progress) for spec in specs}
        datasets = tuple(sorted({f"{s.dataset} ({s.train_size or 'all'} rows)" for s in specs}))
        compute = sum(r.wall_seconds for records in runs.values() for r in records)
        result = evaluate(claim, config.tier.name, runs, design.level(n), config.engine, wall_seconds=compute,
                          datasets=datasets)
        if result.verdict != INCONCLUSIVE:
            break
    assert result is not None
    return result
