"""`recommend()`: profile in, explained `Recommendation` out, by walking the rule book."""

from __future__ import annotations

from pathlib import Path

from advisor.engine.decide import build_stages, collect_augmentation, collect_warnings, decide_depth, select_backbone
from advisor.engine.loader import load_rulebook
from advisor.engine.rulebook import RuleBook
from advisor.profile import DatasetProfile
from advisor.recommendation import Range, Recommendation


def recommend(profile: DatasetProfile, rules: RuleBook | Path | str | None = None) -> Recommendation:
    """Recommend a transfer-learning plan for `profile`.

    Args:
        profile: What is known about the dataset.
        rules: A loaded `RuleBook`, or a directory of rules files; default: the packaged rules.

    Raises:
        RulesError: `rules` names a directory whose files are malformed.
    """
    book = rules if isinstance(rules, RuleBook) else load_rulebook(rules)
    context = profile.context()
    depth = decide_depth(book, context)
    decided = {
        **context,
        "strategy": depth.strategy,
        "trainable_fraction": depth.trainable_fraction,
        "rung": depth.rung,
    }
    backbone, backbone_rule = select_backbone(book.zoo, decided)
    stages, stage_rules = build_stages(book, decided)
    low, high = depth.expected_accuracy
    warnings = collect_warnings(book.warnings, decided)
    return Recommendation(
        profile=profile,
        strategy=depth.strategy,
        trainable_fraction=depth.trainable_fraction,
        rung=depth.rung,
        rung_name=depth.rung_name,
        backbone=backbone,
        pretrained=depth.strategy != "from_scratch",
        stages=stages,
        expected_accuracy=Range(low=low, high=high),
        time_estimate=depth.time_estimate,
        rationale=(*depth.fired, backbone_rule, *stage_rules),
        warnings=warnings,
        augmentation=collect_augmentation(book.warnings, warnings),
    )
