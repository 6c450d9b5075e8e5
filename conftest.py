"""The repository's pytest root. The fml-bench plugin (options, the `check` fixture, reports)
is registered through the package's `pytest11` entry point, so it loads wherever fml-bench is
installed; `pyproject.toml` holds pytest's settings."""
