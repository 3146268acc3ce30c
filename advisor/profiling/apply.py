"""Turn a measured profile into a recommendation: the engine's plan with the measured backbone and reasons."""

from __future__ import annotations

from pathlib import Path

from advisor.engine.recommend import recommend
from advisor.engine.rulebook import RuleBook
from advisor.profile import DatasetProfile
from advisor.profiling.evidence import Measured, SimilarityEvidence
from advisor.recommendation import BackboneChoice, BackboneOption, FiredRule, Recommendation


def similarity_reason(sim: SimilarityEvidence | None) -> FiredRule | None:
    """The measured-similarity verdict as a rationale entry, numbers included."""
    if sim is None:
        return None
    numbers = []
    if sim.top_drift is not None and sim.low_drift is not None:
        numbers.append(f"BatchNorm drift bottom {sim.low_drift:.2f} / top {sim.top_drift:.2f} ({sim.shift} shift)")
    if sim.fragmentation is not None:
        numbers.append(f"{sim.fragmentation:.2f} pieces per word, {sim.unk_rate or 0:.1%} unknown")
    if sim.probe_accuracy is not None and sim.raw_probe_accuracy is not None:
        numbers.append(
            f"frozen-feature probe {sim.probe_accuracy:.2f} vs {sim.raw_baseline} {sim.raw_probe_accuracy:.2f}"
        )
    return FiredRule(
        rule=f"measured:{sim.rule.rule}",
        reason=f"Measured on {sim.n_measured} examples with {sim.backbone}: {'; '.join(numbers)}. {sim.rule.reason}",
        section=sim.rule.section,
    )


def recommend_measured(
    profile: DatasetProfile, measured: Measured, rules: RuleBook | Path | str | None = None
) -> Recommendation:
    """`recommend(profile)`, then the measured backbone choice and the measurements in the rationale.

    The tutorial's selection guide names backbones (ResNet-50, BERT-base) that may not be available;
    when backbones were scored on this data, the best-fitting one replaces the guide's pick, and the
    guide's pick becomes the first alternative.
    """
    scores, fit_rule = measured.backbones, measured.backbone_rule
    rec = recommend(profile, rules)
    extra = [r for r in (similarity_reason(measured.similarity),) if r is not None]
    backbone = rec.backbone
    chosen = next((s for s in scores if s.backbone == measured.chosen_backbone), scores[0] if scores else None)
    if chosen is not None:
        guide_pick = BackboneOption(**rec.backbone.model_dump(exclude={"reason", "alternatives"}))
        others = tuple(
            BackboneOption(
                name=s.backbone,
                model_id=s.backbone,
                params_millions=s.params_millions,
                best_for=f"LogME {s.logme:+.3f} on this data",
            )
            for s in scores
            if s is not chosen
        )
        reason = fit_rule.reason if fit_rule else "The only backbone measured on this data."
        backbone = BackboneChoice(
            name=chosen.backbone,
            model_id=chosen.backbone,
            params_millions=chosen.params_millions,
            best_for=f"LogME {chosen.logme:+.3f} on this data",
            reason=reason,
            alternatives=(guide_pick, *others),
        )
        if fit_rule is not None:
            extra.append(fit_rule)
    return rec.model_copy(update={"backbone": backbone, "rationale": (*extra, *rec.rationale)})
