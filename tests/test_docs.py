"""The README and docs/: short enough to read, links that resolve, and the README's test
command the one CI runs (issue 22)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_the_readme_reads_in_five_minutes():
    assert len((ROOT / "README.md").read_text()) <= 8000


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_resolves(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a URL or an anchor in the same page
        if not (page.parent / target.split("#")[0]).exists():
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"


def test_ci_runs_the_readmes_test_command_word_for_word():
    readme = (ROOT / "README.md").read_text()
    ci_command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    install, _, test = ci_command.partition(" && ")
    assert f"{install} && {test}" in readme


def test_no_page_is_left_with_a_placeholder():
    for page in PAGES:
        prose = re.sub(r"```.*?```|`[^`]*`", "", page.read_text(), flags=re.S)  # code may name variables
        assert not re.findall(r"\b[A-Z]{3,}_[A-Z_]{3,}\b", prose), page
