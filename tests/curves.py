"""Learning-curve points written by hand, for tests that read only what an epoch scored on validation."""

from __future__ import annotations

from runners import EpochMetrics


def epoch_point(stage: int, epoch: int, val_loss: float, val_accuracy: float) -> EpochMetrics:
    """One epoch's metrics; training loss, F1, seconds and rate are fixed (no test here reads them)."""
    return EpochMetrics(
        stage=stage,
        epoch=epoch,
        train_loss=0.1,
        val_loss=val_loss,
        val_accuracy=val_accuracy,
        val_macro_f1=val_accuracy,
        seconds=1.0,
        lr=1e-3,
    )
