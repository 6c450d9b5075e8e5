"""Atomic file updates: a reader sees the old file or the whole new one, never part, and two
writers never share a temporary name (each gets its own from `mkstemp`)."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path


def _file_mode() -> int:
    """0666 less the process umask (mkstemp makes 0600; a shared store or report must be readable)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_with(target: Path, write: Callable[[Path], None], suffix: str = "") -> None:
    """Call write(tmp) on a fresh temporary path beside `target`, then move it onto `target`."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=f".tmp{suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def probe_writable(folder: Path) -> None:
    """Create `folder` if needed and a file in it, then remove the file: an OSError now if a run
    could not write there later (read-only, full, a path through a file, no permission)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix=".write-probe-")
    os.close(fd)
    os.unlink(name)


def write_text(target: Path, text: str) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    write_with(target, write)


def replace_symlink(link: Path, points_to: str) -> None:
    """Make `link` a symlink to `points_to` in one step (a fresh temporary name per call)."""
    for _ in range(100):
        tmp = link.with_name(f".{link.name}.{secrets.token_hex(6)}.tmp")
        try:
            tmp.symlink_to(points_to, target_is_directory=True)
        except FileExistsError:
            continue
        try:
            os.replace(tmp, link)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return
    raise FileExistsError(f"no free temporary name beside {link}")
