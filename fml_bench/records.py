"""Run records: what one seed of one experiment produced, in a form the store can persist."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


@dataclass(frozen=True)
class RunRecord:
    """One seed's result.

    history: per-epoch metrics, each a list of length epochs (keras' `History.history`).
    epoch_seconds: wall time of each epoch. extra: protocol-specific scalars (for example
    `estimate_val_accuracy` of a K-fold run, `restored_val_loss` after early stopping).
    fingerprint: what made it (`fml_bench.provenance`), filled in by the store when saved.
    """

    spec_name: str
    spec_hash: str
    seed: int
    engine: str
    history: dict[str, list[float]]
    epoch_seconds: list[float]
    wall_seconds: float
    env: dict[str, str] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)
    fingerprint: dict[str, str] = field(default_factory=dict)

    def curve(self, key: str) -> np.ndarray:
        """One metric per epoch as a float array."""
        return np.asarray(self.history[key], dtype=float)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RunRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        missing = names - {"env", "extra", "fingerprint"} - set(d)
        if missing:
            raise KeyError(f"record lacks fields {sorted(missing)}")
        return cls(**{k: v for k, v in d.items() if k in names})
