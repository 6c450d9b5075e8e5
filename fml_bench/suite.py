"""Checking claims: run each claim's experiments through the store under its sequential design
and return its verdict. Claims that share an experiment share its stored runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fml_bench import provenance
from fml_bench.claims import CLAIM, FAMILY_SIZE, MEASUREMENT, Claim
from fml_bench.errors import MissingRunsError
from fml_bench.experiments import ExperimentSpec, get_spec
from fml_bench.plans import CONFIRMATORY_FIRST_SEED, knockout_plan_for, plan_for
from fml_bench.records import RunRecord
from fml_bench.report.claim_results import FAIL, INCONCLUSIVE, ClaimResult, curves_of
from fml_bench.runner import Progress, run_experiment
from fml_bench.stats import SequentialDesign
from fml_bench.store import RunStore
from fml_bench.tiers import Tier, get_tier

MEASUREMENT_SEEDS = 10
Runner = Callable[[ExperimentSpec, Sequence[int]], list[RunRecord]]


@dataclass(frozen=True)
class SuiteConfig:
    """Knobs of one suite run (from the command line or pytest options).

    alpha: the family-wise error rate of the run; each claim is tested at alpha / family_size
    (Bonferroni; the report adds Holm-adjusted p), split over the looks of its design, for
    both verdicts. seeds: the looks (seed counts) overriding every claim's plan. knockout: run each claim
    with its mechanism removed (the verdict must be *fail*), at the knock-out's own plan.
    runner: trains a spec for seeds (default: through the store with the engine); tests inject one.
    """

    tier: Tier
    store: RunStore
    engine_override: str | None = None
    alpha: float = 0.05
    seeds: tuple[int, ...] | None = None
    base_seed: int = CONFIRMATORY_FIRST_SEED
    family_size: int = FAMILY_SIZE
    knockout: bool = False
    runner: Runner | None = None

    @classmethod
    def from_options(cls, tier: str | None, store: RunStore, engine: str | None = None, alpha: float = 0.05,
                     seeds: tuple[int, ...] | None = None, knockout: bool = False,
                     mnist_standin: str | None = None) -> SuiteConfig:
        """The configuration of `fml-bench check` and of the pytest plugin alike, from their
        (shared) options; `mnist_standin` replaces full MNIST in a tier that needs it."""
        from dataclasses import replace

        profile = get_tier(tier)
        if mnist_standin and profile.mnist_dataset == "mnist":
            profile = replace(profile, mnist_dataset=mnist_standin)
        return cls(tier=profile, store=store, engine_override=engine, alpha=alpha, seeds=seeds, knockout=knockout)

    @property
    def engine(self) -> str:
        from fml_bench.engine_registry import default_engine

        return self.engine_override or default_engine(self.tier.engine)

    def design(self, claim: Claim) -> SequentialDesign:
        return planned_design(claim, self.tier.name, self.alpha, self.family_size, self.knockout, self.seeds)

    def first_seed(self, claim: Claim) -> int:
        """The claim's first confirmatory seed: `base_seed` plus its plan's block (the seed ledger:
        a re-planned claim looks at fresh seeds); knock-outs use their claim's block, so the arms a
        knock-out leaves alone are the claim's stored runs. `seeds` overriding the plans, and
        measurements, start at `base_seed`."""
        if self.seeds or claim.kind == MEASUREMENT:
            return self.base_seed
        return self.base_seed + plan_for(claim.id, self.tier.name).first_seed

    def seed_ledger(self, claim: Claim) -> tuple[str, ...]:
        """The earlier designs of the claim's plan and the seeds they looked at (none when the
        plans are overridden)."""
        if self.seeds or claim.kind == MEASUREMENT:
            return ()
        return plan_for(claim.id, self.tier.name).changes


def planned_design(claim: Claim, tier: str, alpha: float = 0.05, family_size: int = FAMILY_SIZE,
                   knockout: bool = False, seeds: tuple[int, ...] | None = None) -> SequentialDesign:
    """The looks a claim is checked with: `seeds` when given, one look for a measurement, the
    knock-out's own plan when checking the knock-out, else the claim's plan; at alpha / family size."""
    if seeds:
        looks: tuple[int, ...] = tuple(seeds)
    elif claim.kind == MEASUREMENT:  # nothing to decide, so nothing to plan: one look
        looks = (MEASUREMENT_SEEDS,)
    elif knockout and (ko_plan := knockout_plan_for(claim.id, tier)) is not None:
        looks = ko_plan.looks
    else:
        looks = plan_for(claim.id, tier).looks
    return SequentialDesign.of(looks, alpha / family_size)


def dead_looks(claim: Claim, design: SequentialDesign) -> dict[int, list[str]]:
    """Per look (its seed count), the parts it cannot pass whatever the data
    (`simulation.looks_without_power`). Such a look spends its share of alpha for nothing."""
    from fml_bench.simulation import looks_without_power

    return looks_without_power(claim.parts, design)


def fails_the_run(result: ClaimResult, tier: Tier, knockout: bool = False, excuse_known: bool = True) -> bool:
    """The gate of both faces (the CLI's exit code, the pytest test): a knock-out must make its
    claim *fail*; otherwise a *fail* fails the run, and an *inconclusive* does in a tier that says
    so (the book tier). A known divergence is excused (`excuse_known`; pytest instead marks the
    test as a strict xfail, so that the divergence going away shows)."""
    if knockout:
        return result.kind == CLAIM and result.verdict != FAIL
    if result.known_divergence and excuse_known:
        return False
    return result.verdict == FAIL or (result.verdict == INCONCLUSIVE and tier.inconclusive_fails)


def sequential_verdict(design: SequentialDesign, evaluate_at: Callable[[int, float], ClaimResult],
                       looks: int | None = None) -> ClaimResult:
    """Look after each of the design's seed counts at its level, up to the first look that
    decides (or the first `looks` looks only). `evaluate_at(n, level)` gives the result on the
    first n seeds."""
    result = None
    for n in design.looks[:looks]:
        result = evaluate_at(n, design.level(n))
        if result.verdict != INCONCLUSIVE:
            break
    assert result is not None
    return result


def experiment_specs(claim: Claim, tier: Tier | str, knockout: bool = False) -> list[ExperimentSpec]:
    """The experiments `claim` trains at `tier` (its knock-out applied when `knockout`)."""
    specs = [get_spec(name, tier) for name in claim.experiments()]
    if knockout and claim.knockout is not None:
        specs = [claim.knockout.apply(spec) for spec in specs]
    return specs


def claim_specs(claim: Claim, config: SuiteConfig) -> list[ExperimentSpec]:
    """The experiments `claim` trains under `config` (its knock-out applied when asked)."""
    return experiment_specs(claim, config.tier, config.knockout)


def stored_runs_only(store: RunStore, engine: str) -> Runner:
    """A runner that trains nothing: the stored records, or a MissingRunsError naming the gaps
    (the aggregate step after sharded training)."""

    def runner(spec: ExperimentSpec, seeds: Sequence[int]) -> list[RunRecord]:
        found = {s: store.load(spec, s, engine) for s in seeds}
        missing = [s for s, r in found.items() if r is None]
        if missing:
            raise MissingRunsError(
                f"{spec.name} ({engine}) lacks seeds {_ranges(missing)} in the store {store.root}: run the "
                "shards that train them (fml-bench check --shard K/N), or check without --no-train"
            )
        return [r for r in found.values() if r is not None]

    return runner


def _ranges(seeds: Sequence[int]) -> str:
    out, run = [], [seeds[0]]
    for s in seeds[1:]:
        if s == run[-1] + 1:
            run.append(s)
        else:
            out.append(run)
            run = [s]
    out.append(run)
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in out)


def check_claim(claim: Claim, config: SuiteConfig, progress: Progress | None = None) -> ClaimResult:
    """Run the claim's experiments look by look (the next only while undecided) and test it.

    The result's wall_seconds is the training time of the runs it rests on (cached runs count
    with the time they took when computed)."""
    evaluate_at = _evaluator(claim, config, progress)
    design = config.design(claim)
    if claim.kind == MEASUREMENT:  # no decision to make: measured once at the full plan
        return evaluate_at(design.last_look, design.level(design.last_look))
    return sequential_verdict(design, evaluate_at)


def train_free_first(specs: Sequence[ExperimentSpec], train: Callable[[ExperimentSpec], list[RunRecord]],
                     busy: Callable[[ExperimentSpec], bool]) -> dict[str, list[RunRecord]]:
    """Each spec's records (in the order of `specs`), training first the specs that no other
    process is training now (`busy`, asked again before each): under `pytest -n` the claims
    that share an experiment run on different workers, and a worker that would wait on the
    store's lock for the seeds another trains does its other experiments meanwhile, then reads
    those seeds from the store."""
    pending = list(specs)
    runs: dict[str, list[RunRecord]] = {}
    while pending:
        spec = next((s for s in pending if not busy(s)), pending[0])
        runs[spec.name] = train(spec)
        pending.remove(spec)
    return {spec.name: runs[spec.name] for spec in specs}


def result_through(claim: Claim, config: SuiteConfig, looks: int) -> ClaimResult:
    """The claim's result through its first `looks` looks only (what the seeds those looks need
    decide), each at its own level."""
    return sequential_verdict(config.design(claim), _evaluator(claim, config, None), looks)


def _evaluator(claim: Claim, config: SuiteConfig, progress: Progress | None) -> Callable[[int, float], ClaimResult]:
    """evaluate_at(n, level): the claim's result on its first n seeds, tested at `level`."""
    specs = claim_specs(claim, config)

    def train(spec: ExperimentSpec, seeds: Sequence[int]) -> list[RunRecord]:
        if config.runner is not None:
            return config.runner(spec, seeds)
        return run_experiment(spec, seeds, config.store, config.engine, progress)

    def busy(spec: ExperimentSpec, seeds: Sequence[int]) -> bool:  # an injected runner trains nothing to wait for
        return config.runner is None and config.store.held_elsewhere(spec, config.engine, seeds)

    def evaluate_at(n: int, level: float) -> ClaimResult:
        first = config.first_seed(claim)
        seeds = list(range(first, first + n))
        runs = train_free_first(specs, lambda spec: train(spec, seeds), lambda spec: busy(spec, seeds))
        datasets = tuple(sorted({f"{s.dataset} ({s.train_size or 'all'} rows)" for s in specs}))
        parts, verdict, p = claim.decide(config.tier.name, runs, level)
        made_under = {provenance.key(r.fingerprint): r.fingerprint for rs in runs.values() for r in rs if r.fingerprint}
        return ClaimResult(
            claim_id=claim.id, section=claim.section, statement=claim.statement, book_says=claim.book_says,
            tier=config.tier.name, engine=config.engine, parts=parts, verdict=verdict, p=p, level=level, seeds=n,
            wall_seconds=sum(r.wall_seconds for records in runs.values() for r in records),
            known_divergence=claim.known_divergence.get(config.tier.name, ""), curves=curves_of(runs),
            datasets=datasets, kind=claim.kind, first_seed=first, seed_ledger=config.seed_ledger(claim),
            knockout=claim.knockout.says if config.knockout and claim.knockout else "",
            environments=dict(sorted(made_under.items())))

    return evaluate_at
