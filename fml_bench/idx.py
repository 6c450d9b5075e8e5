"""Reading MNIST-format idx files (gzip or raw), verified against a content checksum."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

from fml_bench.errors import DatasetCorruptError

_IDX_DTYPES = {0x08: np.uint8}


def read_idx(path: Path, expected_sha256: str | None = None) -> np.ndarray:
    """Parse one idx file; verify the sha256 of its decompressed bytes when one is given.

    The checksum covers the idx content, not the gzip container, so re-compressed copies of
    the canonical files verify as well.
    """
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DatasetCorruptError(
            f"{path} cannot be decompressed ({exc}); delete it and fetch it again."
        ) from exc
    if expected_sha256 is not None:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != expected_sha256:
            raise DatasetCorruptError(
                f"{path} fails its checksum (sha256 of content {digest[:16]}..., expected "
                f"{expected_sha256[:16]}...); the file is damaged or not the canonical one. "
                "Delete it and fetch it again."
            )
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetCorruptError(f"{path} is not an idx file (bad magic number).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=_IDX_DTYPES[raw[2]], offset=header)
    if data.size != int(np.prod(shape)):
        raise DatasetCorruptError(
            f"{path} is truncated: header says {shape}, found {data.size} values."
        )
    return data.reshape(shape)
