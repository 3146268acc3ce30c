"""The search space, derived from the recommendation, and the rule plan as a point in it.

A sampled point is a `TrialPlan`: train the head for `head_epochs` at `lr_head`, then (when
`trainable_blocks` > 0) the top blocks for `tune_epochs` at `lr_backbone` with layer-wise decay.
This is the tutorial's progressive schedule (classifier first, then the top) with its knobs open.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from advisor.engine.decide import match_lr_rule
from advisor.engine.loader import RuleBook
from advisor.recommendation import Recommendation

# The LR ranges the tutorial gives are narrow (1e-5–1e-4 for top layers); the search looks this
# factor beyond each end so it can find out when the guide is off for this dataset.
LR_WIDEN = 3.0


class TrialPlan(BaseModel):
    """One point of the search space."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trainable_blocks: int = Field(ge=0)
    lr_head: float = Field(gt=0)
    head_epochs: int = Field(ge=1)
    lr_backbone: float | None = Field(default=None, gt=0)
    layer_decay: float | None = Field(default=None, gt=0, le=1)
    tune_epochs: int | None = Field(default=None, ge=1)
    weight_decay: float = Field(ge=0)

    @property
    def total_epochs(self) -> int:
        return self.head_epochs + (self.tune_epochs or 0)


class SearchSpace(BaseModel):
    """Ranges of every searched parameter (learning rates on a log scale)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_blocks: int = Field(ge=1)
    lr_head: tuple[float, float]
    lr_backbone: tuple[float, float]
    layer_decay: tuple[float, float] = (0.5, 1.0)
    weight_decay: tuple[float, float] = (1e-5, 0.1)
    max_epochs_per_stage: int = Field(ge=1)

    @property
    def max_total_epochs(self) -> int:
        return 2 * self.max_epochs_per_stage

    def suggest(self, trial: Any) -> TrialPlan:
        """Sample a plan with an Optuna trial (or `optuna.trial.FixedTrial`)."""
        k = trial.suggest_int("trainable_blocks", 0, self.n_blocks)
        plan: dict[str, Any] = {
            "trainable_blocks": k,
            "lr_head": trial.suggest_float("lr_head", *self.lr_head, log=True),
            "head_epochs": trial.suggest_int("head_epochs", 1, self.max_epochs_per_stage),
            "weight_decay": trial.suggest_float("weight_decay", *self.weight_decay, log=True),
        }
        if k > 0:
            plan["lr_backbone"] = trial.suggest_float("lr_backbone", *self.lr_backbone, log=True)
            plan["layer_decay"] = trial.suggest_float("layer_decay", *self.layer_decay)
            plan["tune_epochs"] = trial.suggest_int("tune_epochs", 1, self.max_epochs_per_stage)
        return TrialPlan(**plan)


def _widen(low: float, high: float) -> tuple[float, float]:
    return (low / LR_WIDEN, high * LR_WIDEN)


def space_for(rec: Recommendation, book: RuleBook, n_blocks: int, max_epochs_per_stage: int) -> SearchSpace:
    """Centre the ranges on the recommendation's learning-rate guide."""
    head = rec.stages[0]
    head_range = _widen(head.lr_head, head.lr_head)
    tuned = next((s for s in reversed(rec.stages) if s.lr_backbone_range is not None), None)
    if tuned is not None and tuned.lr_backbone_range is not None:
        backbone_range = tuned.lr_backbone_range
    else:  # feature extraction was recommended: search the guide's rates for the top layers
        context = {**rec.profile.context(), "strategy": "partial_fine_tune", "stage_fraction": 0.2}
        rule = match_lr_rule(book.learning_rates, context)
        assert rule.lr_backbone is not None
        backbone_range = rule.lr_backbone_range or (rule.lr_backbone, rule.lr_backbone)
    # Room for the guide's layer-wise span (1e-4 → 1e-6) over all blocks, and for milder decays.
    full_span = tuned.layer_decay(n_blocks) if tuned is not None else None
    return SearchSpace(
        n_blocks=n_blocks,
        lr_head=head_range,
        lr_backbone=_widen(*backbone_range),
        layer_decay=(min(0.5, full_span or 0.5), 1.0),
        max_epochs_per_stage=max_epochs_per_stage,
    )


def _clip(value: float, bounds: tuple[float, float]) -> float:
    return min(max(value, bounds[0]), bounds[1])


def rule_plan_params(rec: Recommendation, space: SearchSpace) -> dict[str, Any]:
    """The recommendation as Optuna params (enqueued as the first trial), clipped into the space.

    The recommendation's epochs (10 + 20 or more) are clipped to `max_epochs_per_stage`; the
    learning rates, depth and decay are the rules' own.
    """
    head, last = rec.stages[0], rec.stages[-1]
    k = 0 if rec.trainable_fraction == 0 else max(1, round(rec.trainable_fraction * space.n_blocks))
    params: dict[str, Any] = {
        "trainable_blocks": k,
        "lr_head": _clip(head.lr_head, space.lr_head),
        "head_epochs": min(head.epochs if head.trainable_fraction == 0 else 1, space.max_epochs_per_stage),
        "weight_decay": _clip(max(last.weight_decay, space.weight_decay[0]), space.weight_decay),
    }
    if k > 0:
        assert last.lr_backbone is not None
        decay = last.layer_decay(k) if last.layerwise_span else 1.0
        params["lr_backbone"] = _clip(last.lr_backbone, space.lr_backbone)
        params["layer_decay"] = _clip(decay or 1.0, space.layer_decay)
        tune = sum(s.epochs for s in rec.stages if s.trainable_fraction > 0)
        params["tune_epochs"] = min(tune, space.max_epochs_per_stage)
    return params


def describe(plan: TrialPlan, n_blocks: int) -> str:
    """One line for progress output and the report."""
    if plan.trainable_blocks == 0:
        return f"head only, lr {plan.lr_head:.1e}, {plan.head_epochs} ep"
    decay = "" if plan.layer_decay is None or math.isclose(plan.layer_decay, 1.0) else f" ×{plan.layer_decay:.2f}/block"
    return (
        f"head {plan.head_epochs} ep @ {plan.lr_head:.1e}, then top {plan.trainable_blocks}/{n_blocks} blocks "
        f"{plan.tune_epochs} ep @ {plan.lr_backbone:.1e}{decay}"
    )
