"""The search space, derived from the recommendation, and the rule plan as a point in it.

A sampled point is a `TrialPlan`: fit the head to convergence on the frozen features (L2-regularised
logistic regression, inverse strength `head_c`), then (when `trainable_blocks` > 0) train the top
blocks for `tune_epochs` at `lr_backbone` with layer-wise decay, starting from that head. This is
the tutorial's progressive schedule (classifier first, then the top) with the classifier stage
carried out to convergence and the knobs open.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from advisor.engine.decide import match_lr_rule
from advisor.engine.rulebook import RuleBook
from advisor.recommendation import Recommendation
from runners.specs import (
    CLASS_WEIGHT_RATIO,
    LINEAR_HEAD,
    POOLED_FEATURES,
    STAGE_STATISTICS,
    DihedralViews,
    HeadFeatures,
    HeadKernel,
)

# The LR ranges the tutorial gives are narrow (1e-5–1e-4 for top layers); the search looks this
# factor beyond each end so it can find out when the guide is off for this dataset.
LR_WIDEN = 3.0


# Inverse L2 strength of the converged head (scikit-learn's C on standardised features). Pooled
# backbone features are wide (384–1280) and the data small, so the optimum sits far below
# scikit-learn's default of 1: choosing C on validation, `bench/bench_peers.py`'s frozen-features row
# picked 0.001–0.01 on all four tasks (BBC 5 and 20/class, ELPV binary and 4 grades), and the rule
# plan at C = 1 overfitted ELPV (train 0.97, validation 0.80). The search spans six decades, log-uniform.
HEAD_C_DEFAULT = 1e-2
HEAD_C_RANGE = (1e-4, 1e2)

# Head-only strengths enqueued after the rule plan (each a fit of seconds on cached features).
HEAD_C_SWEEP = (1e-3, 3e-3, 3e-2, 0.3)
# The RBF head's strength enqueued beside them (image searches): the middle of what won on ELPV.
RBF_HEAD_C = 3e-2
# Heads on the stages' channel statistics (image searches, EfficientNet families): the sweep's middle.
STAGE_STATISTICS_C_SWEEP = (3e-3, 3e-2)


class TrialPlan(BaseModel):
    """One point of the search space."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trainable_blocks: int = Field(ge=0)
    head_c: float = Field(gt=0)
    lr_head: float | None = Field(default=None, gt=0, description="The head's LR while the top blocks train.")
    lr_backbone: float | None = Field(default=None, gt=0)
    layer_decay: float | None = Field(default=None, gt=0, le=1)
    tune_epochs: int | None = Field(default=None, ge=1)
    weight_decay: float | None = Field(default=None, ge=0)
    class_weights: Literal["auto", "off"] = Field(
        "auto", description="Inverse-frequency class weights when imbalanced (the guide), or none (plain accuracy)."
    )
    dihedral_views: DihedralViews = Field(
        1, description="Head-only plans: views the head is fitted and scored on (`TrialSpec.dihedral_views`)."
    )
    head_kernel: HeadKernel = Field(
        LINEAR_HEAD, description="Head-only plans: a linear head or an RBF one (`StageSpec.head_kernel`)."
    )
    head_features: HeadFeatures = Field(
        POOLED_FEATURES,
        description="Head-only plans: the pooled features, or those and the stages' channel statistics "
        "(`TrialSpec.head_features`).",
    )
    head_backbone: str | None = Field(
        None,
        description="Head-only plans: another backbone whose frozen features the head reads "
        "(`SearchSpace.head_backbones`); None: the search's own.",
    )

    @model_validator(mode="after")
    def _other_backbones_read_frozen_features(self) -> TrialPlan:
        if self.head_backbone is not None and self.trainable_blocks > 0:
            raise ValueError("only a head-only plan reads another backbone (head_backbone)")
        return self

    @property
    def total_epochs(self) -> int:
        """Curve points the trial reports: one for the head fit, then one per fine-tuning epoch."""
        return 1 + (self.tune_epochs or 0)


class SearchSpace(BaseModel):
    """Ranges of every searched parameter (learning rates and head strength on a log scale)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_blocks: int = Field(ge=1)
    head_c: tuple[float, float] = HEAD_C_RANGE
    lr_head: tuple[float, float]
    lr_backbone: tuple[float, float]
    layer_decay: tuple[float, float] = (0.5, 1.0)
    weight_decay: tuple[float, float] = (1e-5, 0.1)
    max_epochs_per_stage: int = Field(ge=1)
    imbalanced: bool = Field(
        False, description="Classes differ by more than 1.5×: whether to weight them is searched (on/off)."
    )
    dihedral_views: tuple[DihedralViews, ...] = Field(
        (1,),
        min_length=1,
        description="View counts a head-only plan uses (`TuneConfig.view_choices`): searched when more than one.",
    )
    head_kernels: tuple[HeadKernel, ...] = Field(
        (LINEAR_HEAD,),
        min_length=1,
        description="Heads a head-only plan fits (`TuneConfig.head_kernel_choices`): searched when more than one.",
    )
    head_features: tuple[HeadFeatures, ...] = Field(
        (POOLED_FEATURES,),
        min_length=1,
        description="What a head-only plan's head reads (the runner's `head_feature_choices` for the "
        "backbone): searched when more than one.",
    )
    head_backbones: tuple[str, ...] = Field(
        (),
        description="Other backbones whose frozen features a head-only plan may read beside the search's "
        "own (`TuneConfig.second_backbone`): searched when any.",
    )

    @property
    def max_total_epochs(self) -> int:
        return 1 + self.max_epochs_per_stage

    def suggest(self, trial: Any, epochs_that_fit: Callable[[int], int | None] | None = None) -> TrialPlan:
        """Sample a plan with an Optuna trial (or `optuna.trial.FixedTrial`).

        `epochs_that_fit(k)`: the fine-tuning epochs of the top `k` blocks the time left pays for
        (None: not known yet). Given, the depth is sampled up to the deepest k below which every
        depth fits at least one epoch (or is not priced yet), and the epochs up to what fits: left to
        the whole range, the sampler kept proposing deep trials that could not run (ELPV 4 grades:
        five in a row, priced at 179–870 s with 175 s left), and the search stopped there. (Depths
        need not fit in order: all blocks train from the inputs with no cache to fill, so the whole
        backbone can fit where the depth below it does not; a range has no holes, so it stops short.)
        """
        depth, epochs = self.n_blocks, self.max_epochs_per_stage
        if epochs_that_fit is not None:
            depth = next((k - 1 for k in range(1, self.n_blocks + 1) if epochs_that_fit(k) == 0), self.n_blocks)
        k = trial.suggest_int("trainable_blocks", 0, depth)
        plan: dict[str, Any] = {
            "trainable_blocks": k,
            "head_c": trial.suggest_float("head_c", *self.head_c, log=True),
        }
        if self.imbalanced:
            # The guide weights classes against imbalance; that trades accuracy for balanced accuracy
            # (ELPV binary, frozen Lite0: 0.852 weighted against 0.865 unweighted), so both are tried.
            plan["class_weights"] = trial.suggest_categorical("class_weights", ["auto", "off"])
        if k == 0 and len(self.dihedral_views) > 1:
            plan["dihedral_views"] = trial.suggest_categorical("dihedral_views", list(self.dihedral_views))
        elif k == 0:
            plan["dihedral_views"] = self.dihedral_views[0]
        if k == 0:
            plan["head_kernel"] = _choose(trial, "head_kernel", self.head_kernels)
            plan["head_features"] = _choose(trial, "head_features", self.head_features)
            if self.head_backbones:
                plan["head_backbone"] = trial.suggest_categorical("head_backbone", [None, *self.head_backbones])
        if k > 0:
            plan["lr_head"] = trial.suggest_float("lr_head", *self.lr_head, log=True)
            plan["lr_backbone"] = trial.suggest_float("lr_backbone", *self.lr_backbone, log=True)
            plan["layer_decay"] = trial.suggest_float("layer_decay", *self.layer_decay)
            fit = epochs_that_fit(k) if epochs_that_fit is not None else None
            plan["tune_epochs"] = trial.suggest_int(
                "tune_epochs", 1, epochs if fit is None else max(1, min(epochs, fit))
            )
            plan["weight_decay"] = trial.suggest_float("weight_decay", *self.weight_decay, log=True)
        return TrialPlan(**plan)


def _choose(trial: Any, name: str, choices: tuple[str, ...]) -> Any:
    """`name` suggested among `choices`, or the one choice there is (not a searched parameter)."""
    return trial.suggest_categorical(name, list(choices)) if len(choices) > 1 else choices[0]


def _widen(low: float, high: float) -> tuple[float, float]:
    return (low / LR_WIDEN, high * LR_WIDEN)


def space_for(
    rec: Recommendation,
    book: RuleBook,
    n_blocks: int,
    max_epochs_per_stage: int,
    dihedral_views: tuple[DihedralViews, ...] = (1,),
    head_kernels: tuple[HeadKernel, ...] = (LINEAR_HEAD,),
    head_features: tuple[HeadFeatures, ...] = (POOLED_FEATURES,),
    head_backbones: tuple[str, ...] = (),
) -> SearchSpace:
    """Centre the ranges on the recommendation's learning-rate guide; head-only plans use `dihedral_views`,
    `head_kernels`, `head_features` and `head_backbones`.

    The head's learning rate only matters while the top blocks train (the head-only stage is a
    converged fit): its range runs from the fine-tuning stage's head rate up to the head stage's.
    """
    head = rec.stages[0]
    tuned = next((s for s in reversed(rec.stages) if s.lr_backbone_range is not None), None)
    if tuned is not None and tuned.lr_backbone_range is not None:
        backbone_range = tuned.lr_backbone_range
    else:  # feature extraction was recommended: search the guide's rates for the top layers
        context = {**rec.profile.context(), "strategy": "partial_fine_tune", "stage_fraction": 0.2}
        rule = match_lr_rule(book.learning_rates, context)
        assert rule.lr_backbone is not None
        backbone_range = rule.lr_backbone_range or (rule.lr_backbone, rule.lr_backbone)
    tune_head = tuned.lr_head if tuned is not None else backbone_range[1]
    head_range = _widen(min(tune_head, head.lr_head), max(tune_head, head.lr_head))
    # Room for the guide's layer-wise span (1e-4 → 1e-6) over all blocks, and for milder decays.
    full_span = tuned.layer_decay(n_blocks) if tuned is not None else None
    return SearchSpace(
        n_blocks=n_blocks,
        lr_head=head_range,
        lr_backbone=_widen(*backbone_range),
        layer_decay=(min(0.5, full_span or 0.5), 1.0),
        max_epochs_per_stage=max_epochs_per_stage,
        imbalanced=(rec.profile.imbalance_ratio or 1.0) > CLASS_WEIGHT_RATIO,
        dihedral_views=dihedral_views,
        head_kernels=head_kernels,
        head_features=head_features,
        head_backbones=head_backbones,
    )


def _clip(value: float, bounds: tuple[float, float]) -> float:
    return min(max(value, bounds[0]), bounds[1])


def rule_plan_params(rec: Recommendation, space: SearchSpace) -> dict[str, Any]:
    """The recommendation as Optuna params (enqueued as the first trial), clipped into the space.

    The classifier stage is fitted to convergence at scikit-learn's default strength (how "train
    the classifier head first" is best carried out); the recommendation's fine-tuning epochs (20 or
    more) are clipped to `max_epochs_per_stage`; the learning rates, depth and decay are the rules' own.
    A head-only plan scores the images as they are when the views are searched, with a linear head
    when the kernel is (neither is advice).
    """
    last = rec.stages[-1]
    k = 0 if rec.trainable_fraction == 0 else max(1, round(rec.trainable_fraction * space.n_blocks))
    params: dict[str, Any] = {"trainable_blocks": k, "head_c": _clip(HEAD_C_DEFAULT, space.head_c)}
    if space.imbalanced:
        params["class_weights"] = "auto"  # the guide's advice for imbalanced classes
    if k == 0 and len(space.dihedral_views) > 1:
        params["dihedral_views"] = 1
    if k == 0 and len(space.head_kernels) > 1:
        params["head_kernel"] = LINEAR_HEAD  # the guide's classifier on the pooled features
    if k == 0 and len(space.head_features) > 1:
        params["head_features"] = POOLED_FEATURES
    if k == 0 and space.head_backbones:
        params["head_backbone"] = None  # the recommended backbone
    if k > 0:
        assert last.lr_backbone is not None
        decay = last.layer_decay(k) if last.layerwise_span else 1.0
        params["lr_head"] = _clip(last.lr_head, space.lr_head)
        params["lr_backbone"] = _clip(last.lr_backbone, space.lr_backbone)
        params["layer_decay"] = _clip(decay or 1.0, space.layer_decay)
        tune = sum(s.epochs for s in rec.stages if s.trainable_fraction > 0)
        params["tune_epochs"] = min(tune, space.max_epochs_per_stage)
        params["weight_decay"] = _clip(max(last.weight_decay, space.weight_decay[0]), space.weight_decay)
    return params


def describe(plan: TrialPlan, n_blocks: int) -> str:
    """One line for progress output and the report."""
    head = f"head fit C={plan.head_c:.2g}"
    if plan.trainable_blocks == 0:
        views = f", {plan.dihedral_views} views" if plan.dihedral_views > 1 else ""
        kernel = ", RBF kernel" if plan.head_kernel == "rbf" else ""
        features = ", stage statistics" if plan.head_features == STAGE_STATISTICS else ""
        other = f", on {plan.head_backbone}" if plan.head_backbone is not None else ""
        return f"{head} (head only{kernel}{features}{views}{other})"
    decay = "" if plan.layer_decay is None or math.isclose(plan.layer_decay, 1.0) else f" ×{plan.layer_decay:.2f}/block"
    return (
        f"{head}, then top {plan.trainable_blocks}/{n_blocks} blocks "
        f"{plan.tune_epochs} ep @ {plan.lr_backbone:.1e}{decay}"
    )
