"""The decision steps, each a walk over one validated rules table: depth, backbone, stages, warnings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from advisor.engine.conditions import all_hold
from advisor.engine.rulebook import LearningRates, LRRule, RuleBook, Schedule, Schedules, Warnings, Zoo, ZooModel
from advisor.recommendation import AugmentOp, BackboneChoice, BackboneOption, FiredRule, Stage, Strategy

RECONCILIATION_SECTION = (
    "Decision Tree: Which Strategy? (Question 1) reconciled with Summary › Decision Path; see rules/strategy.yaml"
)


class Depth(BaseModel):
    """How deep to train: the trainable fraction, its strategy and ladder rung, and why."""

    model_config = ConfigDict(frozen=True)

    trainable_fraction: float
    strategy: Strategy
    rung: int
    rung_name: str
    expected_accuracy: tuple[float, float]
    time_estimate: str
    fired: tuple[FiredRule, ...]


def decide_depth(book: RuleBook, context: Mapping[str, Any]) -> Depth:
    """Smallest of the data-size caps and the similarity want, or from scratch when a rule says so."""
    fired: list[FiredRule] = []
    limits: list[tuple[float, str]] = []
    for cap in book.strategy.caps:
        band = cap.band_for(float(context[cap.field]))
        limits.append((band.max_fraction, band.id))
        fired.append(FiredRule(rule=band.id, reason=band.reason, section=cap.section))
    want = book.strategy.want
    level = want.level_for(context["similarity"])
    limits.append((level.fraction, level.id))
    fired.append(FiredRule(rule=level.id, reason=level.reason, section=want.section))

    fraction, binding = min(limits)
    scratch = next((r for r in book.strategy.from_scratch if all_hold(r.when, context)), None)
    if scratch is not None:
        fraction = 1.0
        fired.append(FiredRule(rule=scratch.id, reason=scratch.reason, section=scratch.section))
    else:
        fired.append(
            FiredRule(
                rule="smallest_of_caps_and_want",
                reason=f"Train {fraction:.0%} of the backbone: the smallest of the data caps and the "
                f"similarity want (set by {binding}).",
                section=RECONCILIATION_SECTION,
            )
        )
    rung = book.ladder.rung_for(fraction, from_scratch=scratch is not None)
    return Depth(
        trainable_fraction=fraction,
        strategy=rung.strategy,
        rung=rung.rung,
        rung_name=rung.name,
        expected_accuracy=rung.expected_accuracy,
        time_estimate=rung.time_estimate,
        fired=tuple(fired),
    )


def _option(model: ZooModel) -> BackboneOption:
    return BackboneOption(
        name=model.name, model_id=model.model_id, params_millions=model.params_millions, best_for=model.best_for
    )


def select_backbone(zoo: Zoo, context: Mapping[str, Any]) -> tuple[BackboneChoice, FiredRule]:
    """First selection rule that holds; the zoo's validation guarantees a catch-all per modality."""
    rule = next(r for r in zoo.selection if all_hold(r.when, context))
    choice = BackboneChoice(
        **_option(zoo.model(rule.pick)).model_dump(),
        reason=rule.reason,
        alternatives=tuple(_option(zoo.model(key)) for key in rule.alternatives),
    )
    return choice, FiredRule(rule=rule.id, reason=rule.reason, section="Pre-trained Model Zoo › Quick Selection Guide")


def match_schedule(schedules: Schedules, context: Mapping[str, Any]) -> Schedule | None:
    return next((s for s in schedules.schedules if all_hold(s.when, context)), None)


def match_lr_rule(rates: LearningRates, context: Mapping[str, Any]) -> LRRule:
    return next(r for r in rates.rules if all_hold(r.when, context))


def build_stages(book: RuleBook, context: Mapping[str, Any]) -> tuple[tuple[Stage, ...], tuple[FiredRule, ...]]:
    """The schedule's stages with their learning rates filled in from the LR guide."""
    schedule = match_schedule(book.schedules, context)
    if schedule is None:  # load-time coverage checks make this unreachable for packaged rules
        raise LookupError(f"no schedule in {book.source} matches {dict(context)}")
    fired = [FiredRule(rule=schedule.id, reason=f"{len(schedule.stages)}-stage schedule", section=schedule.section)]
    stages = []
    for template in schedule.stages:
        fraction = context["trainable_fraction"] if template.fraction == "target" else template.fraction
        rule = match_lr_rule(book.learning_rates, {**context, "stage_fraction": fraction})
        frozen = fraction == 0.0
        stages.append(
            Stage(
                name=template.name,
                trainable_fraction=fraction,
                epochs=template.epochs,
                early_stopping_patience=template.patience,
                lr_head=rule.head_rate,
                lr_backbone=None if frozen else rule.lr_backbone,
                lr_backbone_range=None if frozen else rule.lr_backbone_range,
                layerwise_span=None if frozen else rule.layerwise_span,
                warmup_ratio=rule.warmup_ratio,
                weight_decay=rule.weight_decay,
                reduce_lr_on_plateau=rule.reduce_lr_on_plateau,
            )
        )
        if all(f.rule != rule.id for f in fired):
            fired.append(FiredRule(rule=rule.id, reason=rule.reason, section=rule.section))
    return tuple(stages), tuple(fired)


def collect_warnings(warnings: Warnings, context: Mapping[str, Any]) -> tuple[FiredRule, ...]:
    return tuple(
        FiredRule(rule=w.id, reason=w.message, section=w.section)
        for w in warnings.warnings
        if all_hold(w.when, context)
    )


def collect_augmentation(warnings: Warnings, fired: tuple[FiredRule, ...]) -> tuple[AugmentOp, ...]:
    """The augmentations the fired warnings ask for, each once, in rule order."""
    ids = {f.rule for f in fired}
    ops = [op for w in warnings.warnings if w.id in ids for op in w.augmentation]
    return tuple(dict.fromkeys(ops))
