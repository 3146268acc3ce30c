"""Plans → the runners' `TrialSpec`: a sampled point of the space, or the recommendation itself.

The rule plan (trial 0) runs the recommendation as shown, stage by stage: each stage's depth,
epochs, learning rates, layer-wise decay, warmup, scheduler, patience and weight decay; the
augmentations the rules asked for (rotation included); random weights when the plan trains from
scratch. Two changes only, both reported: a stage that trains the head alone is fitted to
convergence (how "train the classifier head first" is best carried out: a few epochs of Adam leave
it under-fitted), and the search's per-stage epoch cap (`max_epochs_per_stage`) and wall clock may
cut a stage short (`epochs_note` says by how much).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor.auto.config import TuneConfig
from advisor.auto.space import HEAD_C_DEFAULT, TrialPlan
from advisor.recommendation import AugmentOp, Recommendation, Stage
from runners.specs import POOLED_FEATURES, Monitor

# A search's trial keeps the epoch its selection scores: validation accuracy (`TrialSpec.monitor`).
SEARCH_MONITOR: Monitor = "val_accuracy"

if TYPE_CHECKING:
    from runners.specs import AugmentConfig, DataSource, DihedralViews, TrialSpec


def data_source(config: TuneConfig) -> DataSource:
    """The search's data and how to read it, for the scan in set-up and every trial alike."""
    from runners import DataSource

    return DataSource(data=config.data, text_column=config.text_column, label_column=config.label_column)


def augment_config(rec: Recommendation, modality: str) -> AugmentConfig:
    """The runners' `AugmentConfig` the recommendation asks for: on, with exactly its augmentations (images only)."""
    return augment_for(rec.augmentation if modality == "image" else ())


def augment_for(augmentation: Iterable[AugmentOp]) -> AugmentConfig:
    """The runners' `AugmentConfig` with exactly these augmentations switched on (off when there are none)."""
    from runners import AugmentConfig

    ops = set(augmentation)
    return AugmentConfig(
        enabled=bool(ops),
        flip="flip" in ops,
        crop="crop" in ops,
        rotation="rotation" in ops,
        color_jitter="color_jitter" in ops,
    )


def _spec(
    config: TuneConfig, backbone: str, output_dir: Path | None, augment: AugmentConfig, stages: list, **fields: Any
) -> TrialSpec:
    from runners import CacheConfig, TrialSpec

    return TrialSpec(
        modality=config.data_modality,
        backbone=backbone,
        **data_source(config).model_dump(),
        split_fractions=config.split_fractions,
        stages=stages,
        batch_size=config.batch_size,
        augment=augment,
        cache=CacheConfig(enabled=config.cache),
        seed=config.seed,
        device=config.device,
        image_size=config.image_size,
        max_length=config.max_length,
        output_dir=output_dir,
        evaluate_test=False,  # the search never looks at the test split; only its winner is scored
        monitor=SEARCH_MONITOR,
        **fields,
    )


def trial_spec(
    plan: TrialPlan,
    config: TuneConfig,
    backbone: str,
    output_dir: Path | None,
    augment: AugmentConfig,
    cv_folds: int | None = None,
) -> TrialSpec:
    """The runners' `TrialSpec` for a sampled plan: the converged head, then the top blocks.

    With `config.linear_probe_first` off, a fine-tuning trial starts from a random head instead
    (the comparison the bench makes for LP-FT). `augment` is the runners' `AugmentConfig`. A head-only
    plan fits and scores its head on its `dihedral_views`, and on its `head_backbone`'s features when
    it names one; a fine-tuning plan's head stage stays on the clean images (its blocks then train on them).
    """
    from runners import StageSpec

    stages = []
    if plan.trainable_blocks == 0 or config.linear_probe_first:
        stages.append(StageSpec(trainable_blocks=0, head_c=plan.head_c, lr_backbone=0.0, head_kernel=plan.head_kernel))
    if plan.trainable_blocks > 0:
        assert plan.lr_backbone is not None and plan.tune_epochs is not None and plan.lr_head is not None
        stages.append(
            StageSpec(
                trainable_blocks=plan.trainable_blocks,
                epochs=plan.tune_epochs,
                lr_head=plan.lr_head,
                lr_backbone=plan.lr_backbone,
                layer_decay=plan.layer_decay,
            )
        )
    return _spec(
        config,
        plan.head_backbone or backbone,
        output_dir,
        augment,
        stages,
        weights=config.weights if plan.head_backbone is None else None,  # the other backbone's own weights
        weight_decay=plan.weight_decay if plan.weight_decay is not None else 0.0,
        class_weights=plan.class_weights,
        head_cv_folds=cv_folds if plan.trainable_blocks == 0 else None,
        dihedral_views=plan.dihedral_views if plan.trainable_blocks == 0 else 1,
        head_features=plan.head_features if plan.trainable_blocks == 0 else POOLED_FEATURES,
    )


def stage_blocks(stage: Stage, n_blocks: int) -> int:
    """Blocks a recommended stage trains: its share of the backbone's depth, at least one when it trains any."""
    if stage.trainable_fraction == 0:
        return 0
    return min(n_blocks, max(1, round(stage.trainable_fraction * n_blocks)))


def _schedule(stage: Stage) -> str:
    """The runners' scheduler for a recommended stage: reduce-on-plateau when it says so; cosine
    after its warmup when it has one (the BERT pipeline's warmed-up decay); else a constant rate."""
    if stage.reduce_lr_on_plateau:
        return "plateau"
    return "cosine" if stage.warmup_ratio > 0 else "none"


def rule_plan_spec(
    rec: Recommendation,
    config: TuneConfig,
    backbone: str,
    n_blocks: int,
    output_dir: Path | None,
    augment: AugmentConfig,
    cv_folds: int | None = None,
    class_weights: str = "auto",
    min_stage_gain: float | None = None,
    dihedral_views: DihedralViews = 1,
) -> TrialSpec:
    """The recommendation, stage by stage, as the runners' `TrialSpec` (see the module docstring).

    `min_stage_gain`: a stage that added less gets no deeper successor (the guide's "stop when a
    stage adds under 1%"; `Mistakes.stage_gain_floor`). `dihedral_views`: the views a head-only
    plan fits and scores its head on (its plan's).
    """
    from runners import StageSpec

    stages = []
    for stage in rec.stages:
        k = stage_blocks(stage, n_blocks)
        if k == 0:
            stages.append(StageSpec(trainable_blocks=0, head_c=HEAD_C_DEFAULT, lr_backbone=0.0))
            continue
        assert stage.lr_backbone is not None, f"stage {stage.name!r} trains blocks without a backbone rate"
        stages.append(
            StageSpec(
                trainable_blocks=k,
                epochs=min(stage.epochs, config.max_epochs_per_stage),
                lr_head=stage.lr_head,
                lr_backbone=stage.lr_backbone,
                layer_decay=stage.layer_decay(k),
                scheduler=_schedule(stage),
                warmup_fraction=stage.warmup_ratio,
                early_stopping_patience=stage.early_stopping_patience,
                weight_decay=stage.weight_decay,
            )
        )
    head_only = all(s.converged_head for s in stages)
    return _spec(
        config,
        backbone,
        output_dir,
        augment,
        stages,
        weights=config.weights if rec.pretrained else "none",
        weight_decay=0.0,
        class_weights=class_weights,
        early_stopping_patience=None,  # each stage carries its own
        head_cv_folds=cv_folds if head_only else None,
        min_stage_gain=min_stage_gain,
        dihedral_views=dihedral_views if head_only else 1,
    )


def epochs_note(rec: Recommendation, stage_epochs: list[int], skipped: int = 0) -> str | None:
    """ "The plan asks 10 + 20 epochs; the search ran a converged head fit + 6." when the trial ran
    other than the recommendation's epochs (a converged head fit for a head stage, the epoch cap,
    early stopping, the wall clock, a stage left out after one that added under 1%), else None.

    Args:
        stage_epochs: Curve points per stage the rule-plan trial recorded (a head fit counts one).
        skipped: Last stages the trial did not run because the one before them added under 1%.
    """
    asked = " + ".join(str(s.epochs) for s in rec.stages)
    padded = [*stage_epochs, *[0] * len(rec.stages)][: len(rec.stages)]
    ran = []
    for stage, n in zip(rec.stages, padded, strict=True):
        head = stage.trainable_fraction == 0
        ran.append(("a converged head fit" if n else "no head fit") if head else str(n))
    if all(s.trainable_fraction > 0 and n == s.epochs for s, n in zip(rec.stages, padded, strict=True)):
        return None
    note = f"The plan asks {asked} epochs; the search ran {' + '.join(ran)}."
    if skipped:
        stages = "stage" if skipped == 1 else f"{skipped} stages"
        note += (
            f" The last {stages} did not run: the stage before added under 1% validation accuracy "
            "(the guide: stop when a stage adds under 1%)."
        )
    return note
