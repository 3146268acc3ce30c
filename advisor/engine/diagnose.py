"""Diagnose a finished or failed trial with the tutorial's 'Common Mistakes' table (rules/mistakes.yaml)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from advisor.engine.conditions import all_hold
from advisor.engine.rulebook import Mistakes

# Val loss must rise for this many epochs after its best before it counts as "rising":
# one noisy epoch on a small validation split is not overfitting.
RISING_EPOCHS = 2


class TrialObservation(BaseModel):
    """What one trial showed, in the terms the mistake detectors test."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Literal["complete", "diverged", "failed", "stopped"]
    train_accuracy: float | None = None
    val_accuracy: float | None = None
    train_val_gap: float | None = None
    val_loss_rose: bool = False
    trainable_fraction: float = Field(ge=0, le=1)
    n_examples: int
    augmentation: bool
    input_size_mismatch: bool = False
    head_epochs_before_unfreeze: int | None = None
    accuracy_dropped_after_unfreeze: bool | None = None


class Diagnosis(BaseModel):
    """A row of the mistakes table that matched, with its plain-words explanation and fix."""

    model_config = ConfigDict(frozen=True)

    mistake: str = Field(description="Id of the row in rules/mistakes.yaml.")
    title: str
    diagnosis: str
    solution: str


def val_loss_rose(val_losses: Sequence[float]) -> bool:
    """True when validation loss kept rising for RISING_EPOCHS epochs after its minimum."""
    if len(val_losses) <= RISING_EPOCHS:
        return False
    best = min(range(len(val_losses)), key=val_losses.__getitem__)
    after = val_losses[best:]
    return len(after) > RISING_EPOCHS and all(b > a for a, b in zip(after, after[1:], strict=False))


def diagnose(observation: TrialObservation, mistakes: Mistakes) -> list[Diagnosis]:
    """Every mistake whose detector holds for `observation`, in the table's order."""
    context = observation.model_dump()
    return [
        Diagnosis(mistake=m.id, title=m.mistake, diagnosis=m.diagnosis, solution=m.solution)
        for m in mistakes.mistakes
        if all_hold(m.detect, context)
    ]
