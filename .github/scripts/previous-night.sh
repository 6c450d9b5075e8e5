#!/usr/bin/env bash
# Download the newest earlier nightly report artifact named $2 into folder $1, whatever that
# night's conclusion (a red night is still a baseline: it is what the suite measured). Looks at
# the last 30 runs of this workflow, skips the current one, runs still going, and runs without
# that artifact (cancelled before upload, or a matrix entry that did not exist yet). Never fails
# the job: with no earlier night it says so and leaves $1 empty.
# Needs GH_TOKEN and `permissions: actions: read`. Tested with a stand-in `gh` in
# tests/test_nightly.py.
set -euo pipefail
out=$1
artifact=$2
workflow=${WORKFLOW_FILE:-nightly.yml}
mkdir -p "$out"
runs=$(gh run list --workflow "$workflow" --limit 30 --json databaseId,status \
       --jq '.[] | "\(.databaseId) \(.status)"') || { echo "cannot list earlier runs: no baseline"; exit 0; }
while read -r id status; do
  if [ -z "$id" ] || [ "$id" = "${GITHUB_RUN_ID:-}" ] || [ "$status" != "completed" ]; then
    continue
  fi
  if gh run download "$id" --name "$artifact" --dir "$out" 2>/dev/null; then
    echo "baseline: run $id (artifact $artifact)"
    exit 0
  fi
done <<< "$runs"
echo "no earlier night with artifact $artifact: this night has no baseline"
