"""Reports: results.json first (versioned schema), markdown and figures generated from it,
and the comparison of a run with a baseline run."""
