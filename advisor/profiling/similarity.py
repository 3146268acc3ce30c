"""Measured domain similarity and backbone fit, from one frozen pass per candidate backbone.

For a stratified sample of the data, every candidate backbone gives frozen features (scored with
LogME and a linear probe) and, for BatchNorm backbones, per-block drift from its pretraining
statistics. The rules in `rules/profiling.yaml` choose the backbone (fit and priority) and map the
chosen backbone's evidence to one of the tutorial's four similarity levels.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from advisor.engine.rulebook import ProfilingRules
from advisor.profile import Priority
from advisor.profiling.evidence import BackboneScore, Measured, SimilarityEvidence, TextStats
from advisor.profiling.probes import bag_of_words, converged_head_accuracy, linear_probe, logme
from advisor.profiling.progress import Progress, staged
from advisor.recommendation import FiredRule


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def drift_summary(block_drift: list[float | None] | None, rules: ProfilingRules) -> dict[str, Any]:
    """Overall, bottom-third and top-third drift, and where the shift sits."""
    if not block_drift:
        return {}
    values = [d for d in block_drift if d is not None]
    if not values:
        return {}
    third = max(1, len(values) // 3)
    low, top = float(np.mean(values[:third])), float(np.mean(values[-third:]))
    if max(low, top) < rules.shift.threshold:
        shift = "none"
    elif top >= rules.shift.ratio * low:
        shift = "high-level"
    elif low >= rules.shift.ratio * top:
        shift = "low-level"
    else:
        shift = "both"
    return {
        "drift": float(np.mean(values)),
        "low_drift": low,
        "top_drift": top,
        "block_drift": tuple(block_drift),
        "shift": shift,
    }


def choose_backbone(
    scores: list[BackboneScore], priority: Priority, rules: ProfilingRules
) -> tuple[BackboneScore, FiredRule]:
    """Smallest backbone whose converged-head accuracy is within the priority's tolerance of the best.

    Accuracy ties go to the higher LogME; without head accuracies (a class too small to
    cross-validate) LogME ranks alone, with its own tolerance.
    """
    if all(s.head_accuracy is not None for s in scores):
        best = max(scores, key=lambda s: (s.head_accuracy, s.logme))
        tolerance = rules.backbone_fit.accuracy_tolerance[priority]
        close = [s for s in scores if s.head_accuracy >= best.head_accuracy - tolerance]  # type: ignore[operator]
        pick = min(close, key=lambda s: (s.params_millions, -(s.head_accuracy or 0.0), -s.logme))
        table = ", ".join(
            f"{s.backbone} {s.head_accuracy:.3f} (LogME {s.logme:+.3f})"
            for s in sorted(scores, key=lambda s: (-(s.head_accuracy or 0.0), -s.logme))
        )
        reason = (
            f"Cross-validated accuracy of a converged linear head on this data's frozen features: {table}. "
            f"With priority '{priority}' a backbone within {tolerance:g} of the best counts as good as it, "
            f"and the smallest such one is {pick.backbone}."
        )
        return pick, FiredRule(rule="backbone_fit_head", reason=reason, section=rules.backbone_fit.section)
    best = max(scores, key=lambda s: s.logme)
    tolerance = rules.backbone_fit.tolerance[priority]
    pick = next(s for s in sorted(scores, key=lambda s: s.params_millions) if s.logme >= best.logme - tolerance)
    table = ", ".join(f"{s.backbone} {s.logme:+.3f}" for s in sorted(scores, key=lambda s: -s.logme))
    reason = (
        f"LogME on this data's frozen features: {table}. With priority '{priority}' a backbone within "
        f"{tolerance:g} of the best counts as good as it, and the smallest such one is {pick.backbone}."
    )
    return pick, FiredRule(rule="backbone_fit_logme", reason=reason, section=rules.backbone_fit.section)


def measure(
    inputs: list[Any],
    labels: list[str],
    modality: str,
    backbones: list[str],
    rules: ProfilingRules,
    *,
    priority: Priority = "balanced",
    text: TextStats | None = None,
    device: str = "cpu",
    max_length: int = 128,
    weights: str | None = None,
    progress: Progress | None = None,
    passes: dict[str, Any] | None = None,
) -> Measured:
    """Runs every candidate backbone over the sample and applies the profiling rules.

    Args:
        inputs, labels: The sample to measure (already subsampled).
        backbones: Candidate backbone names, as `runners.resolve_backbone` takes them.
        text: Token statistics of the texts (text modality), for fragmentation and unknown tokens.
        passes: Frozen passes already made over exactly `inputs`, by candidate name; not run again.

    Raises:
        BackboneError: a backbone cannot be built.
    """
    from runners import get_runner
    from runners.pixels import PIXEL_SIDE, raw_pixels

    start = time.perf_counter()
    raw = raw_pixels(inputs) if modality == "image" else bag_of_words([str(t) for t in inputs])
    raw_probe = linear_probe(raw, labels)
    scores = []
    passes = dict(passes or {})
    for name in backbones:
        frozen = passes.get(name) or get_runner(modality).frozen_features(
            name,
            inputs,
            weights=weights,
            device=device,
            max_length=max_length,
            progress=staged(progress, f"frozen pass: {name}"),
        )
        passes[name] = frozen
        scores.append(
            BackboneScore(
                backbone=frozen.backbone.name,
                architecture=frozen.backbone.architecture,
                params_millions=round(frozen.n_params / 1e6, 2),
                logme=logme(frozen.features, labels),
                probe_accuracy=linear_probe(frozen.features, labels),
                head_accuracy=converged_head_accuracy(frozen.features, labels) if len(backbones) > 1 else None,
                seconds=frozen.seconds,
            )
        )
    fit_rule = None
    pick = scores[0]
    if len(scores) > 1:
        pick, fit_rule = choose_backbone(scores, priority, rules)
    frozen = passes[backbones[scores.index(pick)]]
    evidence: dict[str, Any] = {
        "modality": modality,
        **drift_summary(frozen.block_drift, rules),
        "probe_accuracy": pick.probe_accuracy,
        "raw_probe_accuracy": raw_probe,
        "probe_gain": (
            pick.probe_accuracy - raw_probe if pick.probe_accuracy is not None and raw_probe is not None else None
        ),
    }
    if text is not None:
        evidence.update(fragmentation=text.fragmentation, unk_rate=text.unk_rate, latin_share=text.latin_share)
    rule = rules.level_for(evidence)
    del evidence["modality"]
    similarity = SimilarityEvidence(
        level=rule.level,
        rule=FiredRule(rule=rule.id, reason=rule.reason, section=rule.section),
        backbone=pick.backbone,
        n_measured=len(inputs),
        raw_baseline=f"{PIXEL_SIDE}×{PIXEL_SIDE} pixels" if modality == "image" else "TF-IDF bag of words",
        seconds=time.perf_counter() - start,
        **evidence,
    )
    return Measured(
        similarity=similarity, backbones=tuple(scores), chosen_backbone=pick.backbone, backbone_rule=fit_rule
    )
