"""Option values shared by the command line and the pytest plugin: parsed and checked in one
place, so `--seeds 0` or `--alpha 2` are refused the same way by both (before any training)."""

from __future__ import annotations

import argparse
import math


def alpha(value: str) -> float:
    """A family-wise error rate: a number strictly between 0 and 1."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--alpha takes a number between 0 and 1, got {value!r}") from None
    if not (math.isfinite(number) and 0 < number < 1):
        raise argparse.ArgumentTypeError(f"--alpha takes a number between 0 and 1 (exclusive), got {value!r}")
    return number


def seed_plan(value: str) -> tuple[int, int]:
    """Seeds per arm: 'N' (one look) or 'N1,N2' (two looks), each at least 2, N1 <= N2."""
    try:
        parts = [int(v) for v in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes N or N1,N2 (whole numbers), got {value!r}") from None
    if len(parts) not in (1, 2) or min(parts) < 2 or parts[0] > parts[-1]:
        raise argparse.ArgumentTypeError(f"--seeds takes N or N1,N2 with 2 <= N1 <= N2, got {value!r}")
    return parts[0], parts[-1]


def int_at_least(minimum: int):
    """An argparse type: a whole number >= `minimum`."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = minimum - 1
        if number < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {value!r}")
        return number

    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)
