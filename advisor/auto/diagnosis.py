"""Turn a trial's plan and learning curve into the observation the mistake detectors read.

Also what each stage added (`stage_gains`), and the study-wide verdicts decided when the report is
written: "too much unfreezing" holds only when a shallower trial of the same study scored higher.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import optuna
from pydantic import ValidationError

from advisor.auto.attrs import TrialAttr
from advisor.auto.space import TrialPlan
from advisor.auto.trial_specs import SEARCH_MONITOR
from advisor.engine.diagnose import TrialObservation, diagnose, val_loss_rose
from advisor.engine.rulebook import Mistakes
from runners.specs import Monitor, StageSpec, kept_epoch


def stage_gains(curve: Sequence[Any]) -> list[dict[str, Any]]:
    """Per stage, in the order run: its best validation accuracy, and what it added over the best before it.

    `gain` is None for the first stage (nothing before it) and for a stage without a finite accuracy.
    """
    stages: dict[int, list[float]] = {}
    for m in curve:
        stages.setdefault(m.stage, [])
        if math.isfinite(m.val_accuracy):
            stages[m.stage].append(m.val_accuracy)
    gains: list[dict[str, Any]] = []
    best_before: float | None = None
    for stage, accuracies in stages.items():
        best = max(accuracies, default=None)
        gain = None if best is None or best_before is None else best - best_before
        gains.append({"stage": stage, "best": best, "gain": gain})
        if best is not None:
            best_before = best if best_before is None else max(best_before, best)
    return gains


HeadStage = Literal["converged", "epochs"] | None


def head_stage(stages: Sequence[dict[str, Any]] | None, linear_probe_first: bool) -> HeadStage:
    """How a trial trained its head before unfreezing: a converged fit, epochs of training, or not at all.

    `stages`: the trial's `StageSpec`s as dicts (defaults may be left out); None when not recorded:
    then the search's own plan, which starts with a converged head fit when `linear_probe_first`.
    """
    if stages is None:
        return "converged" if linear_probe_first else None
    first = stages[0] if stages else {}
    if first.get("trainable_blocks", 0) > 0:
        return None
    return "converged" if first.get("head_c") is not None else "epochs"


def head_converged(curve: Sequence[Any], trainable_blocks: int, head: HeadStage) -> bool | None:
    """Whether the first unfrozen stage started from a converged head; None when nothing was unfrozen.

    A converged head fit is converged by construction. A head trained for epochs (stage 0) counts
    as converged unless its validation accuracy was still rising at its last epoch. Without a head
    stage, fine-tuning starts from a random head.
    """
    if trainable_blocks == 0:
        return None
    if head is None:
        return False
    if head == "converged":
        return True
    accuracies = [m.val_accuracy for m in curve if m.stage == 0 and math.isfinite(m.val_accuracy)]
    return len(accuracies) < 2 or accuracies[-1] <= max(accuracies[:-1])


def top_backbone_rate(stages: Sequence[dict[str, Any]] | None, plan: TrialPlan) -> float | None:
    """The highest backbone learning rate a stage that unfroze blocks used (its top block's; layer decay
    gives the blocks below less); None when nothing was unfrozen.

    `stages`: the trial's `StageSpec`s as dicts (defaults may be left out); None when not recorded:
    then the plan's own rate.
    """
    if stages is None:
        return plan.lr_backbone if plan.trainable_blocks else None
    specs = [StageSpec.model_validate(stage) for stage in stages]
    return max((s.lr_backbone for s in specs if s.trainable_blocks > 0), default=None)


def observe(
    plan: TrialPlan,
    result: Any,
    n_blocks: int,
    n_examples: int,
    augmentation: bool,
    head: HeadStage = "converged",
    modality: str | None = None,
    stages: Sequence[dict[str, Any]] | None = None,
    monitor: Monitor = SEARCH_MONITOR,
) -> TrialObservation:
    """What the trial showed: accuracies at the epoch it kept, the loss trend, the stages, the sizes.

    `head`: how the trial trained its head before unfreezing (`head_stage`). `stages`: the trial's
    `StageSpec`s as dicts, for the rates it ran at (None: the plan's). `monitor`: what picked the
    epoch the trial kept (`TrialSpec.monitor`).
    """
    curve = list(result.curve)
    finite = [m for m in curve if m.val_loss == m.val_loss]  # drop NaN epochs
    best = kept_epoch(curve, monitor)
    train_acc = best.train_accuracy if best else None
    val_acc = best.val_accuracy if best else None
    later = [g["gain"] for g in stage_gains(curve)[1:] if g["gain"] is not None]
    status = result.status if result.status in ("complete", "diverged", "failed", "stopped") else "failed"
    fed = getattr(result, "input_size", None)
    pretrained = getattr(result, "pretrained_input_size", None)
    native = getattr(result, "native_image_size", None)
    return TrialObservation(
        status=status,
        modality=modality if modality in ("image", "text") else None,
        train_accuracy=train_acc,
        val_accuracy=val_acc,
        train_val_gap=None if train_acc is None or val_acc is None else train_acc - val_acc,
        val_loss_rose=val_loss_rose([m.val_loss for m in finite]),
        trainable_fraction=plan.trainable_blocks / n_blocks,
        n_examples=n_examples,
        augmentation=augmentation,
        smallest_stage_gain=min(later, default=None),
        head_converged=head_converged(curve, plan.trainable_blocks, head),
        lr_backbone=top_backbone_rate(stages, plan),
        input_size=fed,
        pretrained_input_size=pretrained,
        native_image_size=native,
        input_scale=fed / pretrained if fed and pretrained else None,
        upscale_factor=fed / native if fed and native else None,
    )


def final_diagnoses(trials: Sequence[optuna.trial.FrozenTrial], mistakes: Mistakes) -> dict[int, list[str]]:
    """Each observed trial's diagnoses, with the relative verdicts decided over the whole study.

    A finished trial's `shallower_trial_did_better`: some other finished trial that trained a
    smaller share of the backbone has a strictly higher score, so the study's winner never gets it.
    Trials without a stored observation (older studies) are left out: their stored diagnoses stand.
    """
    observed: dict[int, TrialObservation] = {}
    for t in trials:
        try:
            observed[t.number] = _stored_observation(t)
        except (KeyError, ValidationError):
            continue
    complete = optuna.trial.TrialState.COMPLETE
    scored = [
        (observed[t.number].trainable_fraction, t.value)
        for t in trials
        if t.state == complete and t.value is not None and t.number in observed
    ]
    for t in trials:
        if t.number not in observed:
            continue
        seen = observed[t.number]
        better = None
        if t.state == complete and t.value is not None:
            value = t.value
            better = any(depth < seen.trainable_fraction and score > value for depth, score in scored)
        observed[t.number] = seen.model_copy(update={"shallower_trial_did_better": better})
    _retries_that_repeated(trials, observed, mistakes)
    return {number: [d.diagnosis for d in diagnose(seen, mistakes)] for number, seen in observed.items()}


def _stored_observation(t: optuna.trial.FrozenTrial) -> TrialObservation:
    """The trial's stored observation; one stored before observations carried the backbone rate gets it
    from the trial's stored stages and plan (a resumed study's older trials)."""
    stored = t.user_attrs[TrialAttr.OBSERVATION]
    seen = TrialObservation.model_validate(stored)
    if "lr_backbone" not in stored and TrialAttr.PLAN in t.user_attrs:
        plan = TrialPlan.model_validate(t.user_attrs[TrialAttr.PLAN])
        seen = seen.model_copy(update={"lr_backbone": top_backbone_rate(t.user_attrs.get(TrialAttr.STAGES), plan)})
    return seen


def _retries_that_repeated(
    trials: Sequence[optuna.trial.FrozenTrial], observed: dict[int, TrialObservation], mistakes: Mistakes
) -> None:
    """Marks, in `observed`, each retried trial and its retry when the retry shows the very mistake it
    was queued to fix: the fix did not hold (on ELPV 4 grades the learning rates ÷ 10 still lost 3.6
    points after unfreezing, where the plan's lost 6.4), and the diagnosis says so instead of repeating it."""
    for t in trials:
        origin = t.user_attrs.get(TrialAttr.RETRY_OF) or {}
        retried = origin.get("trial")
        if t.number not in observed or retried not in observed:
            continue
        # The retry ran at scaled rates; whether it shows the symptom is judged at the rate it retried.
        as_retried = observed[t.number].model_copy(update={"lr_backbone": observed[retried].lr_backbone})
        repeated = any(d.mistake == origin.get("mistake") for d in diagnose(as_retried, mistakes))
        if not repeated:
            continue
        pair = {
            "retry_repeated_mistake": True,
            "dropped_at_full_rate": observed[retried].smallest_stage_gain,
            "dropped_at_cut_rate": observed[t.number].smallest_stage_gain,
            "cut_rate_trial": t.number,
        }
        for number in (retried, t.number):
            observed[number] = observed[number].model_copy(update=pair)
