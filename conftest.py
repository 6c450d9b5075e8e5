"""Loads the fml-bench pytest plugin for the claims in benchmarks/ and the tests in tests/."""

pytest_plugins = ["fml_bench.pytest_plugin"]
