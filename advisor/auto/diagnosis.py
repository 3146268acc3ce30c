"""Turn a trial's plan and learning curve into the observation the mistake detectors read."""

from __future__ import annotations

from typing import Any

from advisor.auto.space import TrialPlan
from advisor.engine.diagnose import TrialObservation, val_loss_rose


def observe(
    plan: TrialPlan, result: Any, n_blocks: int, n_examples: int, augmentation: bool, head_fit: bool = True
) -> TrialObservation:
    """What the trial showed: accuracies at its best epoch (lowest val loss), the loss trend, the stages.

    `head_fit`: the trial fitted its head to convergence before unfreezing (no head epochs to count);
    without it, the top blocks started from a random head: zero head-only epochs.
    """
    curve = list(result.curve)
    finite = [m for m in curve if m.val_loss == m.val_loss]  # drop NaN epochs
    best = min(finite, key=lambda m: m.val_loss, default=None)
    train_acc = best.train_accuracy if best else None
    val_acc = best.val_accuracy if best else None
    head_curve = [m for m in curve if m.stage == 0]
    tune_curve = [m for m in curve if m.stage > 0]
    dropped = None
    if plan.trainable_blocks > 0 and head_curve and tune_curve:
        dropped = max(m.val_accuracy for m in tune_curve) < head_curve[-1].val_accuracy
    status = result.status if result.status in ("complete", "diverged", "failed", "stopped") else "failed"
    return TrialObservation(
        status=status,
        train_accuracy=train_acc,
        val_accuracy=val_acc,
        train_val_gap=None if train_acc is None or val_acc is None else train_acc - val_acc,
        val_loss_rose=val_loss_rose([m.val_loss for m in finite]),
        trainable_fraction=plan.trainable_blocks / n_blocks,
        n_examples=n_examples,
        augmentation=augmentation,
        input_size_mismatch=bool(getattr(result, "input_size_mismatch", False)),
        head_epochs_before_unfreeze=0 if plan.trainable_blocks > 0 and not head_fit else None,
        accuracy_dropped_after_unfreeze=dropped,
    )
