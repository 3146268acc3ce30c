"""Diagnose a finished or failed trial with the tutorial's 'Common Mistakes' table (rules/mistakes.yaml)."""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from advisor.engine.conditions import all_hold
from advisor.engine.rulebook import Mistakes
from advisor.profile import Modality

# Val loss must rise for this many epochs after its best before it counts as "rising":
# one noisy epoch on a small validation split is not overfitting.
RISING_EPOCHS = 2


class TrialObservation(BaseModel):
    """What one trial showed, in the terms the mistake detectors test (None: not measured, or not applicable)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Literal["complete", "diverged", "failed", "stopped"]
    modality: Modality | None = None
    train_accuracy: float | None = None
    val_accuracy: float | None = None
    train_val_gap: float | None = None
    val_loss_rose: bool = False
    trainable_fraction: float = Field(ge=0, le=1)
    n_examples: int = Field(description="Training examples the trial fitted on (not the test split).")
    augmentation: bool
    smallest_stage_gain: float | None = Field(
        None, description="The least validation accuracy a stage after the first added (negative: it lost some)."
    )
    head_converged: bool | None = Field(
        None, description="Whether the first unfrozen stage started from a converged head; None: nothing unfrozen."
    )
    lr_backbone: float | None = Field(
        None,
        description="The highest backbone learning rate an unfrozen stage used (its top block's; layer decay "
        "gives the blocks below less); None: nothing unfrozen.",
    )
    input_size: int | None = Field(None, description="Image side fed to the model, in pixels.")
    pretrained_input_size: int | None = Field(None, description="Image side the backbone was pretrained at.")
    native_image_size: int | None = Field(None, description="The images' own (median shorter) side.")
    input_scale: float | None = Field(None, description="input_size / pretrained_input_size.")
    upscale_factor: float | None = Field(None, description="input_size / native_image_size.")
    shallower_trial_did_better: bool | None = Field(
        None, description="A trial of the same study training fewer layers scored higher; None: not compared."
    )
    retry_repeated_mistake: bool = Field(
        False,
        description="This trial and the variant a diagnosis queued for it (its retry) both show the mistake the "
        "retry was to fix; decided over the study (`advisor.auto.diagnosis.final_diagnoses`) when the retry ends "
        "and when the report is written, for both; False until then, and without a retry.",
    )
    dropped_at_full_rate: float | None = Field(
        None, description="With `retry_repeated_mistake`: the retried trial's smallest stage gain."
    )
    dropped_at_cut_rate: float | None = Field(
        None, description="With `retry_repeated_mistake`: the retry's smallest stage gain (its rates scaled down)."
    )
    cut_rate_trial: int | None = Field(None, description="With `retry_repeated_mistake`: the retry's trial number.")


class Diagnosis(BaseModel):
    """A row of the mistakes table that matched, with its plain-words explanation and fix."""

    model_config = ConfigDict(frozen=True)

    mistake: str = Field(description="Id of the row in rules/mistakes.yaml.")
    title: str
    diagnosis: str
    solution: str
    retry: dict[str, float] = Field(
        default_factory=dict, description="Parameters to multiply for the one variant the search tries."
    )


def val_loss_rose(val_losses: Sequence[float]) -> bool:
    """True when validation loss kept rising for RISING_EPOCHS epochs after its minimum."""
    if len(val_losses) <= RISING_EPOCHS:
        return False
    best = min(range(len(val_losses)), key=val_losses.__getitem__)
    after = val_losses[best:]
    return len(after) > RISING_EPOCHS and all(b > a for a, b in zip(after, after[1:], strict=False))


class _Evidence(string.Formatter):
    """Fills a rule's `{field}` placeholders from the observation; an unmeasured field reads "unknown"."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        return "unknown" if value is None else super().format_field(value, format_spec)


def diagnose(observation: TrialObservation, mistakes: Mistakes) -> list[Diagnosis]:
    """Every mistake whose detector holds for `observation`, in the table's order, in its modality's words."""
    context = observation.model_dump()
    found = []
    for m in mistakes.mistakes:
        if not all_hold(m.detect, context):
            continue
        words = m.by_modality.get(observation.modality) if observation.modality else None
        diagnosis = (words.diagnosis if words else None) or m.diagnosis
        solution = (words.solution if words else None) or m.solution
        found.append(
            Diagnosis(
                mistake=m.id,
                title=m.mistake,
                diagnosis=_Evidence().vformat(diagnosis, (), context),
                solution=_Evidence().vformat(solution, (), context),
                retry=dict(m.retry),
            )
        )
    return found
