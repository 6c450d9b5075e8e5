"""Run the nightly workflow's shell steps on this machine, in order, as GitHub would: each `run:`
block under bash with the job's and the step's `env:`, `${{ steps.X.outputs.Y }}` filled from
what earlier steps wrote to $GITHUB_OUTPUT, `if:` conditions evaluated for the cases the workflow
uses, and a stand-in `gh` that records its calls. Steps that `uses:` an action (checkout, cache,
upload) are listed and skipped.

    python benchmarks/nightly_dry_run.py --work /tmp/night --tier fast --budget-minutes 15

A small budget shows the timeout path: the A/B is stopped by `timeout -s INT`, writes what it
finished, and the publishing steps and the alarm still run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
FAKE_GH = """#!/usr/bin/env bash
echo "gh $*" >> "$GH_LOG"
case "$1 $2" in
  "run list") exit 0;;
  "issue list") exit 0;;
  "issue create") echo "https://github.com/example/fml-bench/issues/1";;
esac
exit 0
"""


def substitute(text: str, outputs: dict[str, dict[str, str]], context: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        expr = match[1].strip()
        step = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)
        if step:
            return outputs.get(step[1], {}).get(step[2], "")
        if "||" in expr:  # github.event.inputs.tier || 'book'
            first, default = (p.strip() for p in expr.split("||", 1))
            return context.get(first) or default.strip("'")
        return context.get(expr, "")

    return re.sub(r"\$\{\{(.*?)\}\}", value, text)


def should_run(condition: str | None, outputs: dict[str, dict[str, str]], failed: bool) -> bool:
    if condition is None:
        return not failed
    if "cache-hit" in condition:  # the datasets are on this machine already (FML_BENCH_DATA)
        return False
    if "always()" in condition:
        rest = condition.replace("always() &&", "").replace("always()", "").strip()
        if not rest:
            return True
        for step, key, op, val in re.findall(r"steps\.([\w-]+)\.outputs\.([\w-]+) (!=|==) '([^']*)'", rest):
            got = outputs.get(step, {}).get(key, "")
            if (got != val) == (op == "!="):
                return True
        return False
    return not failed


def read_outputs(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines() if path.is_file() else []:
        if "=" in line:
            k, _, v = line.partition("=")
            out[k] = v
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="a fresh folder: the checkout the steps run in")
    parser.add_argument("--tier", default="fast")
    parser.add_argument("--budget-minutes", default="240")
    parser.add_argument("--cache", help="FML_BENCH_CACHE to use instead of the workflow's (reuses built builds)")
    args = parser.parse_args(argv)
    if args.work.exists():
        shutil.rmtree(args.work)
    subprocess.run(["git", "clone", "-q", str(ROOT), str(args.work)], check=True)
    bin_dir = args.work / ".dry-run-bin"
    bin_dir.mkdir()
    venv = args.work / ".dry-run-venv"  # setup-python's interpreter: the steps install into it
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    job = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly.yml").read_text())["jobs"]["ab"]
    context = {"github.event.inputs.tier": args.tier, "github.token": "dry-run-token",
               "github.workspace": str(args.work)}
    outputs: dict[str, dict[str, str]] = {}
    summary = args.work / ".step-summary.md"
    env = {**os.environ, "PATH": f"{bin_dir}:{venv / 'bin'}:{os.environ['PATH']}",
           "GH_LOG": str(args.work / ".gh-calls"), "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_RUN_ID": "1",
           "GITHUB_REPOSITORY": "example/fml-bench"}
    env.update({k: substitute(str(v), outputs, context) for k, v in job.get("env", {}).items()})
    env["AB_BUDGET_MINUTES"] = args.budget_minutes
    if args.cache:
        env["FML_BENCH_CACHE"] = args.cache
    failed = False
    for number, step in enumerate(job["steps"], 1):
        name = step.get("name", step.get("uses", f"step {number}"))
        if "run" not in step:
            print(f"[{number:2d}] skipped (an action): {name}", flush=True)
            continue
        if not should_run(step.get("if"), outputs, failed):
            print(f"[{number:2d}] skipped (if: {step.get('if')}): {name}", flush=True)
            continue
        output_file = args.work / f".output-{number}"
        step_env = {**env, "GITHUB_OUTPUT": str(output_file)}
        step_env.update({k: substitute(str(v), outputs, context) for k, v in step.get("env", {}).items()})
        print(f"[{number:2d}] {name}", flush=True)
        done = subprocess.run(["bash", "-eo", "pipefail", "-c", substitute(step["run"], outputs, context)],
                              cwd=args.work, env=step_env)
        if "id" in step:
            outputs[step["id"]] = read_outputs(output_file)
        print(f"     exit {done.returncode}; outputs {outputs.get(step.get('id', ''), {})}", flush=True)
        failed = failed or done.returncode != 0
    calls = (args.work / ".gh-calls").read_text() if (args.work / ".gh-calls").is_file() else ""
    print("gh calls:\n" + calls)
    print(f"job summary: {summary.stat().st_size if summary.is_file() else 0} bytes; "
          f"job {'failed' if failed else 'succeeded'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
