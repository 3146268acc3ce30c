"""The rule plan's promise beside what it measured: did the advice hold?

The ladder rung the recommendation stands on promises an accuracy range and a time ("Summary ›
Mental Model: The Transfer Learning Ladder", `rules/ladder.yaml`). The rule-plan trial (trial 0)
runs that recommendation, so its validation accuracy and seconds check the promise, and the
searched best shows what the data allowed. A plan whose accuracy lands outside its range by more
than the range's own width is flagged: the advice did not hold, and the evidence is given.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from advisor.auto.trial_specs import epochs_note
from advisor.recommendation import Recommendation


class PlanPromise(BaseModel):
    """The rung's promise, trial 0's measurement, the searched best, and the verdict."""

    model_config = ConfigDict(frozen=True)

    rung: int
    rung_name: str
    expected_accuracy: tuple[float, float] | None = None
    time_estimate: str | None = Field(None, description="The guide's time for the rung (GPU times).")
    plan_trial: int | None = None
    plan_val_accuracy: float | None = None
    plan_seconds: float | None = None
    best_trial: int | None = None
    best_val_accuracy: float | None = None
    epochs: str | None = Field(None, description="What the rule-plan trial ran against what the plan asks.")
    held: bool | None = Field(None, description="False: missed the range by more than its width; None: no measurement.")
    verdict: str


def _stage_epochs(curve: list[dict[str, Any]]) -> list[int]:
    counts = Counter(int(point["stage"]) for point in curve)
    return [counts.get(i, 0) for i in range(max(counts, default=-1) + 1)]


def plan_promise(
    rec: Recommendation,
    plan_trial: int | None,
    plan_val: float | None,
    plan_seconds: float | None,
    plan_curve: list[dict[str, Any]],
    best_trial: int | None,
    best_val: float | None,
    plan_skipped: int = 0,
) -> PlanPromise:
    """Sets the rung's promise against the rule-plan trial's validation accuracy (see the module docstring)."""
    expected = (rec.expected_accuracy.low, rec.expected_accuracy.high) if rec.expected_accuracy else None
    fields: dict[str, Any] = {
        "rung": rec.rung,
        "rung_name": rec.rung_name,
        "expected_accuracy": expected,
        "time_estimate": rec.time_estimate,
        "plan_trial": plan_trial,
        "plan_val_accuracy": plan_val,
        "plan_seconds": plan_seconds,
        "best_trial": best_trial,
        "best_val_accuracy": best_val,
        "epochs": epochs_note(rec, _stage_epochs(plan_curve), plan_skipped) if plan_curve else None,
    }
    if plan_val is None or expected is None:
        return PlanPromise(**fields, verdict="The rule plan did not finish: nothing measured its promise.")
    low, high = expected
    width = high - low
    promised = f"rung {rec.rung} ({rec.rung_name}) promises {low:.2f}–{high:.2f}"
    measured = f"trial {plan_trial} reached {plan_val:.4f} validation accuracy"
    best = ""
    if best_trial is not None and best_val is not None and best_trial != plan_trial:
        best = f"; the searched best, trial {best_trial}, reached {best_val:.4f}"
    if low - width <= plan_val <= high + width:
        where = "inside its range" if low <= plan_val <= high else "within the range's width of it"
        return PlanPromise(**fields, held=True, verdict=f"The advice held: {promised}; {measured}, {where}{best}.")
    side = "below" if plan_val < low else "above"
    gap = low - plan_val if plan_val < low else plan_val - high
    return PlanPromise(
        **fields,
        held=False,
        verdict=(
            f"The advice did not hold: {promised}; {measured}, {gap:.2f} {side} it "
            f"(more than the range's width, {width:.2f}){best}."
        ),
    )


def promise_lines(promise: PlanPromise | None) -> list[str]:
    """The promise as report lines: the verdict, then the time and the epochs the plan ran."""
    if promise is None:
        return []
    lines = [promise.verdict]
    if promise.plan_seconds is not None and promise.time_estimate:
        lines.append(
            f"Time: the guide gives {promise.time_estimate} for this rung (on a GPU); "
            f"trial {promise.plan_trial} took {promise.plan_seconds:.0f} s."
        )
    if promise.epochs:
        lines.append(promise.epochs)
    return lines
