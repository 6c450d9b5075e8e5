#!/usr/bin/env bash
# Open an issue for tonight's alarm, or comment on the one still open, with the A/B report ($1)
# as its body; the label $LABEL (default fml-bench-nightly) finds it again tomorrow. Needs
# GH_TOKEN and `permissions: issues: write`. Tested with a stand-in `gh` in tests/test_nightly.py.
set -euo pipefail
report=$1
label=${LABEL:-fml-bench-nightly}
title=${TITLE:-"fml-bench nightly: a chapter-5 phenomenon changed, a claim failed or training got slower"}
body=$(mktemp)
{
  echo "Run: ${GITHUB_SERVER_URL:-}/${GITHUB_REPOSITORY:-}/actions/runs/${GITHUB_RUN_ID:-}"
  echo
  if [ -f "$report" ]; then cat "$report"; else echo "The A/B wrote no report: see the run's log."; fi
} > "$body"
gh label create "$label" --force --description "raised by the fml-bench nightly" > /dev/null
open=$(gh issue list --state open --label "$label" --limit 1 --json number --jq '.[0].number // empty')
if [ -n "$open" ]; then
  gh issue comment "$open" --body-file "$body"
  echo "alarm added to issue #$open"
else
  gh issue create --title "$title" --label "$label" --body-file "$body"
fi
