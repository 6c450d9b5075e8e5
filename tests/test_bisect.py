"""The bisection's search and version ranges, on stand-in probes (real builds: the note)."""

from __future__ import annotations

import pytest

from fml_bench import bisect
from fml_bench.builds import BuildError, build_date, pin_newest

NIGHTLIES = [f"3.16.0.dev202610{d:02d}04" for d in range(1, 28)]


def test_the_versions_between_good_and_bad_are_ordered_by_version_not_by_text():
    shuffled = ["3.16.0.dev2026100904", "3.16.0.dev2026101004", "3.15.1", "3.16.0.dev2026100804"]
    assert bisect.between(shuffled, "3.16.0.dev2026100804", "3.16.0.dev2026101004") == [
        "3.16.0.dev2026100804", "3.16.0.dev2026100904", "3.16.0.dev2026101004"]
    with pytest.raises(BuildError, match="newer"):
        bisect.between(shuffled, "3.16.0.dev2026101004", "3.16.0.dev2026100804")
    with pytest.raises(BuildError, match="not on the index"):
        bisect.between(shuffled, "3.14.0", "3.16.0.dev2026101004")


@pytest.mark.parametrize("first_bad", [1, 2, 13, 26])
def test_the_first_changed_build_is_found_in_log2_probes(first_bad):
    probed = []

    def is_bad(version: str) -> bisect.Probe:
        probed.append(version)
        return bisect.Probe(version, bisect.BAD if NIGHTLIES.index(version) >= first_bad else bisect.GOOD, "")

    found, probes = bisect.bisect(NIGHTLIES, is_bad, log=lambda m: None)
    assert found == NIGHTLIES[first_bad]
    assert len(probed) <= 1 + 5  # the bad end, then ceil(log2(26)) halvings


def test_nothing_to_find_when_the_bad_end_is_as_good():
    found, probes = bisect.bisect(NIGHTLIES, lambda v: bisect.Probe(v, bisect.GOOD, ""), log=lambda m: None)
    assert found is None and len(probes) == 1


def test_a_build_date_is_read_from_a_dated_version_and_pinned_requirements_stay():
    assert build_date("2.23.0.dev20261026") == "2026-10-26" and build_date("3.16.0.dev2026102704") == "2026-10-27"
    assert build_date("2.21.0") is None
    assert pin_newest("tensorflow-cpu==2.16.2 keras>=3") == "tensorflow-cpu==2.16.2 keras>=3"
