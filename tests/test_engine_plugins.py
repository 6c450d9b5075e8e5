"""Engines as plug-ins: found through the `fml_bench.engines` entry-point group, registered like
the built-in ones, and able to check a claim (issue 22)."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from fml_bench import engine_registry as engine
from fml_bench.claims import get_claim
from fml_bench.store import RunStore
from fml_bench.suite import SuiteConfig, check_claim
from fml_bench.tiers import get_tier


def _entry_points(*points: EntryPoint):
    def entry_points(group: str):
        return [p for p in points if p.group == group]

    return entry_points


@pytest.fixture
def toy_plugin(monkeypatch):
    point = EntryPoint("toy", "tests.toy_engine:ENGINE", engine.ENTRY_POINT_GROUP)
    monkeypatch.setattr("importlib.metadata.entry_points", _entry_points(point))
    monkeypatch.setattr(engine, "ENGINES", dict(engine.ENGINES))  # the registry as it was, after the test
    assert engine.load_plugins() == ["toy"]


def test_a_plugin_engine_is_registered_and_checks_a_claim(toy_plugin, tmp_path):
    assert "toy" in engine.engine_names() and engine.engine_version("toy") == 1
    store = RunStore(tmp_path, fingerprint=lambda spec, name: {"engine": name, "data": "world"})
    config = SuiteConfig(tier=get_tier("fast"), store=store, engine_override="toy", seeds=(10, 10))
    result = check_claim(get_claim("imdb-dropout"), config)
    assert result.verdict == "pass" and result.engine == "toy"
    assert (tmp_path / "toy-v1").is_dir()  # the store files its records under the plug-in's name


def test_a_broken_plugin_is_skipped_with_a_warning_naming_it(monkeypatch):
    points = (EntryPoint("gone", "tests.no_such_module:ENGINE", engine.ENTRY_POINT_GROUP),
              EntryPoint("clash", "tests.test_engine_plugins:CLASH", engine.ENTRY_POINT_GROUP))
    monkeypatch.setattr("importlib.metadata.entry_points", _entry_points(*points))
    monkeypatch.setattr(engine, "ENGINES", dict(engine.ENGINES))
    with pytest.warns(UserWarning) as caught:
        assert engine.load_plugins() == []
    messages = sorted(str(w.message) for w in caught)
    assert "'clash'" in messages[0] and "already registered" in messages[0]
    assert "'gone'" in messages[1] and "No module named 'tests.no_such_module'" in messages[1]
    assert engine.engine_names() == ["reference", "stacked", "vectorised"]


CLASH = engine.EngineInfo("stacked", (engine.EngineChange(1, "x"),), False, "nowhere", "a second 'stacked'")
