"""Atomic updates under concurrency: two processes replacing `reports/latest` and one file
thousands of times never collide on a temporary name (issue 21: a fixed `.latest.tmp` raised
FileExistsError/FileNotFoundError 14 times in 6,000 updates, which aborted a check)."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

from fml_bench import atomic
from fml_bench.report.run import point_latest


def _hammer(root: str, name: str, times: int, errors) -> None:
    folder = Path(root) / name
    for i in range(times):
        try:
            point_latest(Path(root), folder)
            atomic.write_text(Path(root) / "shared.json", f'{{"writer": "{name}", "i": {i}}}')
        except OSError as exc:
            errors.put(repr(exc))


def test_two_processes_replacing_latest_and_a_file_never_fail(tmp_path: Path) -> None:
    for name in ("run-a", "run-b"):
        (tmp_path / name).mkdir()
    ctx = multiprocessing.get_context("spawn")
    errors = ctx.Queue()
    workers = [ctx.Process(target=_hammer, args=(str(tmp_path), name, 3000, errors)) for name in ("run-a", "run-b")]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert not found, found[:3]
    assert os.readlink(tmp_path / "latest") in ("run-a", "run-b")
    assert '"writer"' in (tmp_path / "shared.json").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
