"""The `fml-bench` command line: list experiments and claims, run an experiment over seeds,
show stored results, check claims with a report, re-render and compare reports, compare two
framework builds on this machine (`ab`) and bisect dated builds to the one that changed (`bisect`)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

from tabulate import tabulate

from fml_bench import __version__, options, paths
from fml_bench.engine_registry import KERAS_BACKEND_ENV
from fml_bench.errors import FmlBenchError, os_error_line
from fml_bench.progress import event_line
from fml_bench.tiers import TIERS

log = logging.getLogger("fml_bench")


def _store(args):
    from fml_bench.store import open_store

    return open_store(paths.store_location(args.store_dir))


def cmd_store(args) -> int:
    from fml_bench import store_admin

    store = _store(args)
    if args.action == "prune":
        planned = store_admin.prune(store, dry_run=True)
        if not args.dry_run and planned and not args.yes:
            for path in planned:
                print(f"would remove {path.relative_to(store.root)}")
            if not (sys.stdin.isatty() and input(f"remove these {len(planned)} item(s)? [y/N] ").strip() == "y"):
                print("nothing removed: confirm, or rerun with --yes", file=sys.stderr)
                return 1
        removed = planned if args.dry_run or not planned else store_admin.prune(store)
        verb = "would remove" if args.dry_run else "removed"
        for path in removed:
            print(f"{verb} {path.relative_to(store.root)}")
        print(f"{verb} {len(removed)} item(s) from {store.root}")
        return 0
    entries = store_admin.inventory(store)
    if not entries:
        print(f"{store.root}: no records")
        return 0
    print(tabulate([[e.engine, e.spec, e.made_under, e.seeds, e.corrupt, e.status] for e in entries],
                   headers=["engine", "experiment-hash", "made under", "seeds", "corrupt", "status"],
                   tablefmt="github"))
    prunable = sum(e.prunable or e.corrupt > 0 for e in entries)
    print(f"\n{store.root}: {len(entries)} folder(s); {prunable} with records this process does not read "
          "(`fml-bench store prune` removes them)")
    return 0


def cmd_list(args) -> int:
    from fml_bench.claims import ALL
    from fml_bench.experiments import experiment_names, get_spec

    rows = []
    for name in experiment_names():
        s = get_spec(name, args.tier)
        rows.append([name, s.listing, s.dataset, s.train_size or "all", s.recipe, s.model,
                     s.epochs, s.batch_size, s.validation_split, s.content_hash()])
    print(tabulate(rows, headers=["experiment", "book", "dataset", "rows", "recipe", "model", "epochs",
                                  "batch", "val split", "hash"], tablefmt="github"))
    print()
    print(tabulate([[c.id, c.section, c.kind, ", ".join(c.experiments()), c.knockout.says if c.knockout else ""]
                    for c in ALL],
                   headers=["claim", "book section", "kind", "experiments", "knock-out"], tablefmt="github"))
    return 0


def _tier_minutes(tier: str, engine: str) -> str:
    """A line on a whole tier at its plans: its predicted training minutes, shared experiments once."""
    from fml_bench import parallel
    from fml_bench.claims import ALL
    from fml_bench.memory import machine_memory_bytes
    from fml_bench.shards import seconds_at_plans
    from fml_bench.store import RunStore
    from fml_bench.suite import SuiteConfig

    config = SuiteConfig.from_options(tier, RunStore("unused"), engine)
    first, most = (seconds / 60 for seconds in seconds_at_plans(ALL, config))
    cores = parallel.usable_cores()
    workers = parallel.workers_for(cores, machine_memory_bytes())  # what `check --workers auto` starts here
    return (f"The {tier} tier's claims and measurements at their plans, an experiment they share trained once: "
            f"{first:.0f} minutes of one core's training at the first looks (about {first / workers:.0f} on this "
            f"machine's {cores} cores and its memory: {workers} worker{'s' if workers > 1 else ''}), "
            f"{most:.0f} at most if every claim took every look.")


def cmd_plans(args) -> int:
    """The confirmatory design of every claim: SESOIs with their sources, planned seeds per tier
    (expected and at most, in seeds and minutes), and the simulated chances of *pass* at the
    pilots' lower bound and of *fail* at zero effect, all parts at once and each on its own."""
    from fml_bench.claims import CLAIMS
    from fml_bench.engine_registry import default_engine
    from fml_bench.experiments import get_spec
    from fml_bench.plans import knockout_plan_for, plan_for
    from fml_bench.shards import has_costs, seed_cost
    from fml_bench.suite import dead_looks, planned_design

    tiers = [args.tier] if args.tier else list(TIERS)
    rows = []
    for claim in CLAIMS:
        for tier in tiers:
            plan = plan_for(claim.id, tier)
            engine = default_engine(TIERS[tier].engine)
            per_seed = sum(seed_cost(get_spec(name, tier), tier, engine) for name in claim.experiments())
            design = planned_design(claim, tier)  # at alpha 0.05, as `fml-bench check` by default
            expected = plan.expected_seeds if plan.expected_seeds is not None else design.first_look
            minutes = f"{per_seed * expected / 60:.1f} / {per_seed * design.last_look / 60:.1f}"
            dead = "; ".join(f"look at {n}: {', '.join(parts)}" for n, parts in dead_looks(claim, design).items())
            sesoi = "; ".join(f"{p.id} {p.sesoi_for(tier).value:g} ({p.sesoi_for(tier).source})" for p in claim.parts)
            chances = ("n/a" if plan.p_pass is None else f"{plan.p_pass:.2f}",
                       "n/a" if plan.p_fail is None else f"{plan.p_fail:.2f}")
            expected_seeds = "-" if plan.expected_seeds is None else f"{plan.expected_seeds:.1f}"
            per_part = "; ".join(f"{f['part']} {f['p_pass_bound']:.2f} / {f['p_fail_zero']:.2f}" for f in plan.parts)
            ko = knockout_plan_for(claim.id, tier)
            ko_design = ("its own plan: not planned" if ko is None else
                         f"{_looks(ko.looks)}: P(fail) {ko.p_fail_bound:.3f} at the pilots' bound, "
                         f"{ko.p_fail_pilot:.3f} at the pilots")
            rows.append([claim.id, tier, sesoi, _looks(plan.looks), expected_seeds, minutes, dead or "-",
                         *chances, per_part or "-", claim.knockout.says if claim.knockout else "", ko_design,
                         plan.source])
    print(tabulate(rows, headers=["claim", "tier", "smallest effect of interest (source)", "seeds at each look",
                                  "expected seeds", "training min (expected / at most)",
                                  "parts a look cannot pass (alpha 0.05)",
                                  "P(pass | pilots' bound)", "P(fail | 0)",
                                  "per part: P(pass | bound) / P(fail | its effect 0)",
                                  "knock-out", "knock-out seeds at each look", "plan from"], tablefmt="github",
                   disable_numparse=True))
    print("\nTraining minutes per claim from the cost table (fml_bench/costs.json, seconds per seed measured "
          "by benchmarks/measure_costs.py) at the tier's default engine; experiments shared by claims count "
          "in each.")
    for tier in tiers:
        engine = default_engine(TIERS[tier].engine)
        print(_tier_minutes(tier, engine))
        if not has_costs(tier, engine):
            print(f"The {tier} tier's engine here ({engine}) has no measured costs: its minutes use the table's "
                  "fallback rate per epoch, a rough guess.")
    return 0


def _looks(looks: tuple[int, ...]) -> str:
    return ", ".join(str(n) for n in looks)


def _progress_printer(total: int | None):
    """Progress lines: '[done/total] experiment seed: event' (no total when not known)."""
    state = {"done": 0}

    def count(k: int) -> str:
        return f"[{k}/{total}]" if total else f"[{k}]"

    def progress(event, spec, seed, record):
        line = event_line(event, spec, seed, record)
        if event == "epoch":
            print(f"    {line}", flush=True)
            return
        if event != "start":
            state["done"] += 1
        print(f"{count(state['done'] + (event == 'start'))} {line}", flush=True)

    return progress


def cmd_run(args) -> int:
    from fml_bench.experiments import get_spec
    from fml_bench.runner import run_experiment

    if args.first_seed + args.seeds > options.SEED_SPACE:
        raise FmlBenchError(f"seeds {args.first_seed}..{args.first_seed + args.seeds - 1} pass 2**32: NumPy and Keras "
                            "take seeds below it; choose a smaller --first-seed")
    spec = get_spec(args.experiment, args.tier)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    records = run_experiment(spec, seeds, _store(args), _engine_of(args), _progress_printer(len(seeds)))
    _print_histories(records)
    return 0


def _print_histories(records) -> None:
    for r in records:
        rows = [[e + 1] + [f"{r.history[k][e]:.4f}" for k in ("loss", "accuracy", "val_loss", "val_accuracy")]
                + [f"{r.epoch_seconds[e]:.2f}" if e < len(r.epoch_seconds) else ""]
                for e in range(len(r.history["loss"]))]
        print(f"\n{r.spec_name} seed {r.seed} ({r.engine} engine, {r.wall_seconds:.1f}s)")
        print(tabulate(rows, headers=["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"],
                       tablefmt="github"))


def _engine_of(args) -> str:
    """--engine, or the tier's engine (as `check` trains with), as --help says."""
    from fml_bench.engine_registry import default_engine
    from fml_bench.tiers import get_tier

    return args.engine or default_engine(get_tier(args.tier).engine)


def cmd_show(args) -> int:
    from fml_bench.experiments import get_spec

    spec = get_spec(args.experiment, args.tier)
    records = _store(args).records(spec, _engine_of(args))
    if not records:
        print(f"no stored runs of {spec.name} ({args.tier or 'default'} tier, {_engine_of(args)} engine) in "
              f"{_store(args).root}; run `fml-bench run {spec.name}` first")
        return 1
    _print_histories(records)
    return 0


def cmd_check(args) -> int:
    from fml_bench.claims import ALL, get_claim
    from fml_bench.errors import DatasetCorruptError, DatasetUnavailableError, MissingRunsError
    from fml_bench.report.run import RunReport
    from fml_bench.suite import SuiteConfig, check_claim, fails_the_run, stored_runs_only

    claims = [get_claim(c) for c in dict.fromkeys(args.claims)] if args.claims else list(ALL)  # one check each
    config = SuiteConfig.from_options(args.tier, _store(args), args.engine, args.alpha, args.seeds, args.knockout)
    tier = config.tier
    shard = _shard(args)
    if shard is not None:
        return _train_shard(claims, config, shard, args.look)
    report = RunReport(paths.reports_dir(args.report_dir), args.baseline, planned=len(claims),  # baseline read
                       selection=[c.id for c in claims] if args.claims else None)
    if report.baseline is not None:
        from fml_bench.report.compare import check_same_tier

        check_same_tier(report.baseline, {"claims": [{"tier": tier.name}]})
    config.store.check_writable()  # before any training, like the report folder
    if args.ray:
        from fml_bench.ray_executor import run_on_ray

        location = paths.store_location(args.store_dir)
        run_on_ray(claims, config, location if isinstance(location, str) else location.resolve(),
                   address=None if args.ray == "local" else args.ray, say=lambda line: print(line, flush=True))
    interrupted: KeyboardInterrupt | None = None
    workers = _workers(args)
    if workers > 1:
        from fml_bench.local_workers import run_on_workers

        try:
            run_on_workers(claims, config, paths.store_location(args.store_dir), workers,
                           say=lambda line: print(line, flush=True))
        except KeyboardInterrupt as exc:  # report the claims the stored seeds decide, then stop
            interrupted = exc
    if args.no_train or args.ray or interrupted:
        config = dataclasses.replace(config, runner=stored_runs_only(config.store, config.engine))
    print(f"report (rewritten as each claim finishes): {report.folder / 'report.md'}", flush=True)
    report_failed = False
    try:
        for claim in claims:
            print(f"== {claim.id} ({config.tier.name} tier)", flush=True)
            try:
                result = check_claim(claim, config, _progress_printer(None))
            except MissingRunsError as exc:
                if interrupted:  # as a sequential run stopped before this claim: not in the report
                    print(f"{claim.id}: not decided before the interruption", file=sys.stderr, flush=True)
                    continue
                print(f"{claim.id}: NOT CHECKED: {exc}", file=sys.stderr, flush=True)
                report.add_error(claim.id, tier.name, str(exc))
                continue
            except (DatasetUnavailableError, DatasetCorruptError) as exc:  # this claim only
                print(f"{claim.id}: NOT CHECKED: {exc}", file=sys.stderr, flush=True)
                report.add_error(claim.id, tier.name, str(exc))
                continue
            print(result.message(), flush=True)
            try:
                report.add(result)
            except OSError as exc:  # the seeds are stored; the other claims still train
                print(f"fml-bench: error: {os_error_line(exc, 'the report was not rewritten')}; the claim's seeds "
                      "are stored and a rerun reports it", file=sys.stderr, flush=True)
                report_failed = True
    finally:
        regressions = report.finish(complete=len(report.results) + len(report.errors) == len(claims))
        print(f"\nreport: {report.folder / 'report.md'}")
    if interrupted:
        raise interrupted
    if report_failed:
        return 2
    failed = [r for r in report.results if fails_the_run(r, tier, args.knockout)]
    if args.knockout:  # every knock-out must fail its claim
        return 1 if report.errors or failed else 0
    return 1 if failed or regressions or report.errors else 0


def _workers(args) -> int:
    """How many processes train this check's seeds (a shard has returned before): one when it
    trains nothing or Ray does, inside another worker (pytest-xdist's or a check's), else
    --workers ('auto': `parallel.workers_for` the usable cores and the memory)."""
    from fml_bench import parallel

    if args.no_train or args.ray:
        return 1
    if args.workers != options.AUTO:
        return int(args.workers)
    if parallel.worker_count() > 1:
        return 1
    from fml_bench.memory import machine_memory_bytes

    return parallel.workers_for(parallel.usable_cores(), machine_memory_bytes())


def _shard(args) -> tuple[int, int] | None:
    from fml_bench import shards

    if args.shard and args.no_train:
        raise FmlBenchError("--shard trains and --no-train does not: give one of them")
    if args.shard:
        return shards.parse_shard(args.shard)
    found = shards.shard_from_env(args.shard_count)
    if args.shard_count and found is None:
        raise FmlBenchError(f"--shard-count needs ${shards.K8S_INDEX_ENV} (or give --shard K/N)")
    return found


def _train_shard(claims, config, shard: tuple[int, int], look: int) -> int:
    """Train shard K of N's units of `look`; the report comes from `check --no-train`."""
    import time

    from fml_bench import shards
    from fml_bench.runner import run_experiment

    k, n = shard
    units = shards.work_units(claims, config, look, shards=n)
    mine = shards.assign(units, n)[k - 1]
    total, predicted = sum(u.cost for u in units), sum(u.cost for u in mine)
    print(f"shard {k}/{n}, look {look}: {len(mine)} of {len(units)} units, predicted "
          f"{predicted / 60:.1f} of {total / 60:.1f} min", flush=True)
    start = time.perf_counter()
    for unit in mine:
        print(f"== {unit.name} (predicted {unit.cost:.0f}s)", flush=True)
        unit_start = time.perf_counter()
        run_experiment(unit.spec, unit.seeds, config.store, config.engine, _progress_printer(None))
        print(f"   {unit.name} took {time.perf_counter() - unit_start:.0f}s (predicted {unit.cost:.0f}s)", flush=True)
    elapsed = time.perf_counter() - start
    print(f"shard {k}/{n} done in {elapsed / 60:.1f} min, {elapsed / max(predicted, 1e-9):.2f} x the prediction; "
          "aggregate with `fml-bench check --no-train`", flush=True)
    return 0


def cmd_history(args) -> int:
    from fml_bench.report.history import write_history

    page = write_history(paths.reports_dir(args.report_dir), Path(args.out) if args.out else None,
                         Path(args.ab) if args.ab else None)
    print(f"wrote {page}")
    return 0


def cmd_report(args) -> int:
    from fml_bench.report import results
    from fml_bench.report.run import attach_benchmarks, render_folder

    folder = Path(args.folder)
    folder = folder if folder.is_dir() else folder.parent
    doc = attach_benchmarks(folder, results.load(folder))
    regressions = render_folder(folder, doc, results.load(Path(args.baseline)) if args.baseline else None)
    print(f"wrote {folder / 'report.md'}")
    return 1 if regressions else 0


def cmd_compare(args) -> int:
    from fml_bench.report import compare, results

    comparison = compare.compare(results.load(Path(args.baseline)), results.load(Path(args.current)),
                                 factor=args.factor)
    print(compare.render(comparison))
    if not comparison.comparable:
        print("fml-bench: error: nothing comparable (different claims, tiers or engines)", file=sys.stderr)
        return 2
    return 1 if comparison.regressions else 0


def cmd_ab(args) -> int:
    from fml_bench import ab, builds
    from fml_bench.claims import CLAIMS, get_claim
    from fml_bench.report import ab_page
    from fml_bench.report.run import new_run_id

    claims = list(dict.fromkeys(args.claims)) or [c.id for c in CLAIMS]
    for cid in claims:
        get_claim(cid)  # an unknown name is refused before anything is built or trained
    folder = Path(args.out) if args.out else paths.reports_dir(None) / "ab" / new_run_id()
    given = {"a": args.build_a, "b": args.build_b}
    if args.pin_newest:
        given = {side: text if builds.looks_like_python(text) else builds.pin_newest(text)
                 for side, text in given.items()}
    pair = {side: builds.resolve(text) for side, text in given.items()}
    for side, build in pair.items():
        print(f"build {side.upper()}: {build.describe()} ({build.python})", flush=True)
    result = ab.run_ab(pair, args.tier or "fast", claims, folder, rounds=args.rounds, epochs=args.epochs,
                       engine=args.engine, timing_tier=args.timing_tier, effects=not args.no_effects,
                       speed=not args.no_speed, threshold=args.threshold, log=lambda m: print(m, flush=True),
                       seeds=args.seeds)
    page = ab_page.write(result, folder)
    if args.history:
        ab_page.append_history(result, Path(args.history))
    print(f"wrote {page}")
    for alarm in result.alarms:
        print(f"ALARM {alarm}")
    return 1 if result.alarms else 0


def cmd_bisect(args) -> int:
    from fml_bench import bisect
    from fml_bench.claims import get_claim
    from fml_bench.report.run import new_run_id

    if args.claim:
        claim = get_claim(args.claim)
        if args.part and args.part not in [p.id for p in claim.parts]:
            raise FmlBenchError(f"claim {claim.id} has no part {args.part!r}; its parts: "
                                f"{', '.join(p.id for p in claim.parts)}")
    folder = Path(args.out) if args.out else paths.reports_dir(None) / "bisect" / new_run_id()
    result = bisect.run(args.package, args.good, args.bad, args.with_, folder, claim=args.claim, part=args.part,
                        experiment=args.experiment, tier=args.tier or "fast", rounds=args.rounds,
                        threshold=args.threshold, log=lambda m: print(m, flush=True))
    print(result.summary())
    print(f"wrote {folder / 'bisect.json'}")
    return 0


class _VersionAction(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        from importlib import metadata

        found = []
        for name in ("tensorflow", "tensorflow-cpu", "tf-nightly", "keras", "keras-nightly", "numpy"):
            try:
                found.append(f"{name} {metadata.version(name)}")
            except metadata.PackageNotFoundError:
                continue
        print(f"fml-bench {__version__} ({', '.join(found)})")
        parser.exit()


def _validate_environment(args) -> None:
    """Options that came from environment variables, checked as the options are, before TensorFlow
    loads; a Keras backend that is not installed says how to install it."""
    import importlib.util

    from fml_bench.engine_registry import engine_names

    options.stack_memory_gb()
    engine = getattr(args, "engine", None)
    if engine is not None and engine not in engine_names():
        raise FmlBenchError(f"unknown engine {engine!r} (from --engine or $FML_BENCH_ENGINE); choose one of "
                            f"{', '.join(engine_names())}")
    tier = os.environ.get("FML_BENCH_TIER")
    if getattr(args, "tier", None) is None and tier and tier not in TIERS:
        raise FmlBenchError(f"unknown tier {tier!r} in $FML_BENCH_TIER; choose one of {', '.join(TIERS)}")
    backend = getattr(args, "keras_backend", None) or os.environ.get(KERAS_BACKEND_ENV)
    trains = args.command in ("run", "check") and not getattr(args, "no_train", False)
    if trains and backend in ("jax", "torch") and importlib.util.find_spec(backend) is None:
        raise FmlBenchError(f"the Keras backend {backend} is not installed: pip install 'fml-bench[{backend}]'")
    if trains and backend in (None, "tensorflow") and importlib.util.find_spec("tensorflow") is None:
        raise FmlBenchError(TENSORFLOW_MISSING)


#: TensorFlow is an extra, so that a machine that has its own (a GPU build) keeps one TensorFlow.
TENSORFLOW_MISSING = ("TensorFlow is not installed: pip install 'fml-bench[cpu]' (tensorflow-cpu), "
                      "'fml-bench[gpu]' (tensorflow with CUDA), or a tensorflow of your own; or train under "
                      "another Keras backend (--keras-backend jax)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fml-bench", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log more, TensorFlow's C++ log included")
    parser.add_argument("--version", action=_VersionAction, nargs=0,
                        help="fml-bench, TensorFlow, Keras and numpy versions")
    # --data-dir and --store-dir work before or after the command (`fml-bench check --store-dir x`)
    shared = argparse.ArgumentParser(add_help=False)
    options.add_options(parser.add_argument, declared=options.LOCATION_OPTIONS)
    options.add_options(shared.add_argument, declared=options.LOCATION_OPTIONS, default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser = sub.add_parser

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        return add_parser(name, parents=[shared], **kwargs)

    def tiered(p):
        options.add_options(p.add_argument, only=("--tier", "--keras-backend", "--engine"))

    p = command("list", help="list experiments and claims")
    p.add_argument("--tier", choices=list(TIERS), default=None)
    p.set_defaults(func=cmd_list)
    p = command("plans", help="each claim's SESOIs, planned seeds and simulated power per tier")
    p.add_argument("--tier", choices=list(TIERS), default=None)
    p.set_defaults(func=cmd_plans)
    p = command("run", help="run one experiment over seeds (resumes from the store)")
    p.add_argument("experiment", help="an experiment name (fml-bench list)")
    p.add_argument("--seeds", type=options.seed_count, default=3,
                   help=f"how many seeds to train (1 to {options.MAX_SEEDS}; 3)")
    p.add_argument("--first-seed", type=options.first_seed, default=0,
                   help="the first seed (0 to 2**32 - 1; 0); stored seeds are not trained again")
    tiered(p)
    p.set_defaults(func=cmd_run)
    p = command("show", help="show the stored histories of an experiment")
    p.add_argument("experiment", help="an experiment name (fml-bench list)")
    tiered(p)
    p.set_defaults(func=cmd_show)
    p = command("check", help="check claims and write a report (the main job)")
    p.add_argument("claims", nargs="*", help="claim ids (default: all)")
    options.add_options(p.add_argument, only=("--seeds", "--alpha", "--report-dir", "--baseline"))
    p.add_argument("--knockout", action="store_true",
                   help="remove each claim's mechanism; exit 0 only if every claim then fails")
    p.add_argument("--shard", default=None,
                   help="K/N: train only this shard's (experiment, seed-block) units, write no report")
    p.add_argument("--shard-count", type=options.int_at_least(1), default=None,
                   help="N, with the shard index from $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)")
    p.add_argument("--look", type=options.int_at_least(1), default=1,
                   help="with --shard: 1 trains first looks; 2, 3, ... the seeds each later look adds, for the "
                        "claims the stored earlier looks leave undecided")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="train on Ray (a local instance, or the cluster at ADDRESS), then check from the store")
    p.add_argument("--no-train", action="store_true",
                   help="verdicts and report from the store alone (after sharded training); name missing runs")
    p.add_argument("--workers", type=options.workers, default=os.environ.get(options.WORKERS_ENV) or options.AUTO,
                   help=f"processes that train the seeds: N, or auto (default, ${options.WORKERS_ENV}): one a core, "
                        "as many as the memory holds; 1 trains in this process")
    tiered(p)
    p.set_defaults(func=cmd_check)
    p = command("store", help="list the run store's records, or prune those no longer read")
    p.add_argument("action", nargs="?", choices=["list", "prune"], default="list",
                   help="list the record folders (default), or prune those this process does not read")
    p.add_argument("--dry-run", action="store_true", help="prune: only say what would be removed")
    p.add_argument("--yes", action="store_true", help="prune: remove without asking")
    p.set_defaults(func=cmd_store)
    p = command("history", help="per-claim effects over past runs, change points, history.md with figures")
    p.add_argument("--report-dir", help=f"reports folder holding history.jsonl (${paths.REPORTS_ENV})")
    p.add_argument("--out", help="where history.md, index.html and the figures go (default: the reports folder)")
    p.add_argument("--ab", help="an A/B folder whose report index.html shows first (the nightly's)")
    p.set_defaults(func=cmd_history)
    p = command("report", help="re-render report.md and figures from a results.json")
    p.add_argument("folder", help="a report folder (or its results.json)")
    p.add_argument("--baseline", help="results.json (or report folder) to compare with")
    p.set_defaults(func=cmd_report)
    p = command("compare", help="compare two runs; exit 0 no regression, 1 regression, 2 error or nothing comparable")
    p.add_argument("baseline", help="results.json (or report folder) of the earlier run")
    p.add_argument("current", help="results.json (or report folder) of the run to judge")
    p.add_argument("--factor", type=float, default=1.2, help="slow-down factor that counts (1.2)")
    p.set_defaults(func=cmd_compare)
    p = command("ab", help="what changed between two framework builds on this machine: effects paired by seed, "
                           "speed timed in alternating rounds; exit 0 nothing flagged, 1 an alarm, 2 error")
    p.add_argument("build_a", metavar="A",
                   help="the reference build: a Python executable with fml-bench, or pip requirements in one "
                        "string, e.g. 'tensorflow-cpu==2.16.2 keras==3.3.3'")
    p.add_argument("build_b", metavar="B", help="the build under test, e.g. 'tf-nightly keras-nightly'")
    p.add_argument("claims", nargs="*", help="claim ids (default: all)")
    p.add_argument("--tier", choices=list(TIERS), default=None, help="scale of the claims (default fast)")
    p.add_argument("--engine", default=None, help="engine of the claims (default: the tier's)")
    p.add_argument("--seeds", type=options.seed_plan, default=None,
                   help="seeds per arm on both sides, N or N1,N2 (default: each claim's plan, which is powered for "
                        "verdicts; a change of an effect between builds may need more)")
    p.add_argument("--rounds", type=options.int_at_least(2), default=8,
                   help="alternating timing rounds (8: see the power column of the report)")
    p.add_argument("--epochs", type=options.int_at_least(2), default=6,
                   help="epochs per experiment per timing round (the first is dropped, the fastest counts; 6)")
    p.add_argument("--threshold", type=float, default=1.05, help="time ratio B/A whose lower bound counts as slower")
    p.add_argument("--timing-tier", choices=list(TIERS), default=None,
                   help="scale of the timed experiments (default: --tier; the nightly times the fast tier)")
    p.add_argument("--pin-newest", action="store_true",
                   help="pin each requirement without a version to the newest on the index (a fresh build each day)")
    p.add_argument("--history", metavar="FILE",
                   help="append B's verdicts, effects and seconds per epoch to this history.jsonl (fml-bench history)")
    p.add_argument("--no-effects", action="store_true",
                   help="train no claims: time only (effects already in --out's folder are compared again)")
    p.add_argument("--no-speed", action="store_true", help="compare effects only")
    p.add_argument("--out", help="the A/B's folder (default reports/ab/<time>); a rerun there resumes")
    p.set_defaults(func=cmd_ab)
    p = command("bisect", help="the first dated build of a package where a claim changed or an experiment got "
                               "slower, against a good build")
    p.add_argument("--package", required=True, help="the package whose builds are bisected, e.g. keras-nightly")
    p.add_argument("--good", required=True, help="a version known good (the reference)")
    p.add_argument("--bad", required=True, help="a newer version where the change is seen")
    p.add_argument("--with", dest="with_", default="",
                   help="the other requirements, held fixed, e.g. 'tensorflow-cpu==2.21.0'")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--claim", help="bisect on this claim's effects (the A/B's rule)")
    target.add_argument("--experiment", help="bisect on this experiment's seconds per epoch")
    p.add_argument("--part", help="with --claim: only this part")
    p.add_argument("--tier", choices=list(TIERS), default=None, help="scale (default fast)")
    p.add_argument("--rounds", type=options.int_at_least(2), default=6, help="timing rounds per probe")
    p.add_argument("--threshold", type=float, default=1.05, help="time ratio whose lower bound counts as slower")
    p.add_argument("--out", help="the bisection's folder (default reports/bisect/<time>); a rerun reuses it")
    p.set_defaults(func=cmd_bisect)
    return parser


@contextlib.contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """SIGTERM (a CI timeout, `kill`, a scheduler's preemption) stops a run like Ctrl-C: the
    seeds already stored stay, and the report of the finished claims is written."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ log, read when it loads
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        _validate_environment(args)
        backend = {KERAS_BACKEND_ENV: getattr(args, "keras_backend", None)}
        with paths.data_dir_set(args.data_dir), paths.environment(backend), _interrupt_on_sigterm():
            return args.func(args)
    except FmlBenchError as exc:
        print(f"fml-bench: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a read-only mount, a path through a file: one line, not a traceback
        print(f"fml-bench: error: {os_error_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nfml-bench: interrupted; finished seeds are stored and will not be recomputed", file=sys.stderr)
        return 130
    except Exception:  # a bug, not a verdict: exit 2 so that it is never read as "a claim failed"
        traceback.print_exc()
        print("fml-bench: internal error (above); please report it", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
