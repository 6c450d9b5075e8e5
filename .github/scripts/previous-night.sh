#!/usr/bin/env bash
# Download the newest earlier nightly artifact named $2 into folder $1, whatever that night's
# conclusion (a red night is still a baseline: it is what the suite measured). Looks at the last
# 30 runs of this workflow on branch $BRANCH (default main), skips the current one, runs still
# going, and runs without that artifact (cancelled before upload). With no earlier night it says
# so and leaves $1 empty (exit 0). An error of `gh` itself (authentication, network, permissions)
# is not "no baseline": it is printed and the script exits 1.
# Needs GH_TOKEN and `permissions: actions: read`. Tested with a stand-in `gh` in
# tests/test_nightly.py.
set -euo pipefail
out=$1
artifact=$2
workflow=${WORKFLOW_FILE:-nightly.yml}
branch=${BRANCH:-main}
mkdir -p "$out"
if ! runs=$(gh run list --workflow "$workflow" --branch "$branch" --limit 30 --json databaseId,status \
            --jq '.[] | "\(.databaseId) \(.status)"' 2>&1); then
  echo "::error::cannot list earlier runs of $workflow on $branch: $runs"
  exit 1
fi
while read -r id status; do
  if [ -z "$id" ] || [ "$id" = "${GITHUB_RUN_ID:-}" ] || [ "$status" != "completed" ]; then
    continue
  fi
  if err=$(gh run download "$id" --name "$artifact" --dir "$out" 2>&1); then
    echo "baseline: run $id (artifact $artifact)"
    exit 0
  fi
  if ! grep -qiE "no (valid )?artifacts? (found|match)|not found" <<< "$err"; then
    echo "::error::cannot download artifact $artifact of run $id: $err"
    exit 1
  fi
done <<< "$runs"
echo "no earlier night with artifact $artifact on $branch: this night has no baseline"
