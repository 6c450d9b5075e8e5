"""Progress lines for training events, the same text in `fml-bench` and in pytest."""

from __future__ import annotations

from fml_bench.experiments import ExperimentSpec


def event_line(event: str, spec: ExperimentSpec, seed: int, payload) -> str:
    """One line for a runner event: "start", "cached", "done" (payload: the record) or "epoch"
    (payload: an EpochProgress; `seed` is its chunk's first seed)."""
    if event == "epoch":
        seeds = f"seeds {seed}-{seed + payload.seeds - 1}" if payload.seeds > 1 else f"seed {seed}"
        return (f"{spec.name} {seeds}: epoch {payload.epoch}/{payload.epochs}, "
                f"val_loss {payload.logs.get('val_loss', float('nan')):.4f}")
    if event == "cached":
        return f"{spec.name} seed {seed}: stored, not recomputed"
    if event == "start":
        return f"{spec.name} seed {seed}: training {spec.epochs} epochs..."
    h = payload.history
    return (f"{spec.name} seed {seed}: done in {payload.wall_seconds:.1f}s, {len(h['val_loss'])} epochs, "
            f"val_accuracy {h['val_accuracy'][-1]:.4f}, val_loss {h['val_loss'][-1]:.4f}")
