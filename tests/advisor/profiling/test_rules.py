"""rules/profiling.yaml: evidence → similarity level, drift → shift, LogME + priority → backbone, data checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from advisor import RulesError, load_rulebook
from advisor.engine.rulebook import RuleBook
from advisor.profiling.evidence import BackboneScore
from advisor.profiling.similarity import choose_backbone, drift_summary


@pytest.mark.parametrize(
    ("evidence", "level", "rule"),
    [
        # Calibration clusters of top-block drift (bench/bench_similarity.py): photos 0.41–0.44, ELPV 1.12–1.22,
        # stripes 1.67–1.91, noise 2.02–2.22; thresholds halfway at 0.75 and 1.45.
        ({"top_drift": 0.44, "probe_accuracy": 1.0}, "similar", "image_top_drift_similar"),
        ({"top_drift": 0.25, "probe_accuracy": 0.95}, "very_similar", "image_top_drift_very_similar"),
        ({"top_drift": 0.25, "probe_accuracy": 0.6}, "similar", "image_top_drift_similar"),
        ({"top_drift": 0.74}, "similar", "image_top_drift_similar"),
        ({"top_drift": 0.75}, "different", "image_top_drift_different"),
        ({"top_drift": 1.19}, "different", "image_top_drift_different"),
        ({"top_drift": 1.44}, "different", "image_top_drift_different"),
        ({"top_drift": 1.45}, "very_different", "image_top_drift_very_different"),
        ({"top_drift": 2.1}, "very_different", "image_top_drift_very_different"),
        ({"top_drift": None, "probe_accuracy": 0.9}, "similar", "image_no_batchnorm"),
    ],
)
def test_image_evidence_maps_to_a_level(book: RuleBook, evidence: dict[str, Any], level: str, rule: str) -> None:
    fired = book.profiling.level_for({"modality": "image", **evidence})
    assert (fired.level, fired.id) == (level, rule)
    assert fired.section.startswith(("When Does Transfer Learning Work?", "Summary › Decision Tree"))


@pytest.mark.parametrize(
    ("evidence", "level"),
    [
        (
            {"fragmentation": 1.26, "unk_rate": 0.0, "latin_share": 1.0, "probe_accuracy": 0.94, "probe_gain": 0.02},
            "very_similar",
        ),
        (
            {"fragmentation": 1.26, "unk_rate": 0.0, "latin_share": 1.0, "probe_accuracy": 0.80, "probe_gain": 0.1},
            "similar",
        ),
        (
            {"fragmentation": 1.26, "unk_rate": 0.0, "latin_share": 1.0, "probe_accuracy": 0.92, "probe_gain": -0.1},
            "similar",
        ),
        ({"fragmentation": 1.9, "unk_rate": 0.0, "latin_share": 1.0}, "different"),
        ({"fragmentation": 1.2, "unk_rate": 0.0, "latin_share": 0.1}, "different"),
        ({"fragmentation": 3.1, "unk_rate": 0.0, "latin_share": 1.0}, "very_different"),
        ({"fragmentation": 1.1, "unk_rate": 0.2, "latin_share": 1.0}, "very_different"),
    ],
)
def test_text_evidence_maps_to_a_level(book: RuleBook, evidence: dict[str, Any], level: str) -> None:
    assert book.profiling.level_for({"modality": "text", **evidence}).level == level


def test_drift_profile_says_where_the_shift_is(book: RuleBook) -> None:
    rules = book.profiling
    # Per-block drift measured with EfficientNet-Lite0 (bench/bench_similarity.py).
    photos = [0.67, 0.48, 0.50, 0.33, 0.34, 0.27, 0.37, 0.48]
    elpv = [1.84, 1.22, 1.14, 0.81, 0.88, 0.76, 1.08, 1.31]
    noise = [0.57, 0.41, 0.52, 0.58, 1.03, 1.30, 1.89, 2.20]
    assert drift_summary(photos, rules)["shift"] == "none"
    assert drift_summary(elpv, rules)["shift"] == "both"
    assert drift_summary(noise, rules)["shift"] == "high-level"
    assert drift_summary([2.0, 1.8, 0.3, 0.2, 0.1, 0.2], rules)["shift"] == "low-level"
    summary = drift_summary([None, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], rules)
    assert (summary["low_drift"], summary["top_drift"]) == (1.5, 5.5)  # thirds of the blocks that have BatchNorm
    assert drift_summary(None, rules) == {}


def _score(name: str, params: float, value: float) -> BackboneScore:
    return BackboneScore(backbone=name, architecture=name, params_millions=params, logme=value, seconds=1.0)


@pytest.mark.parametrize(
    ("priority", "expected"),
    [("accuracy", "lite2"), ("balanced", "lite1"), ("speed", "lite0"), ("mobile", "lite0")],
)
def test_backbone_choice_trades_fit_for_size_by_priority(book: RuleBook, priority: str, expected: str) -> None:
    scores = [_score("lite0", 3.4, 1.06), _score("lite1", 4.1, 1.095), _score("lite2", 4.8, 1.10)]
    pick, fired = choose_backbone(scores, priority, book.profiling)  # type: ignore[arg-type]
    assert pick.backbone == expected
    assert fired.rule == "backbone_fit_logme"
    assert "lite2 +1.100, lite1 +1.095, lite0 +1.060" in fired.reason


@pytest.mark.parametrize(
    ("priority", "expected"),
    [("accuracy", "lite0"), ("balanced", "lite0"), ("speed", "lite0")],
)
def test_backbone_choice_ranks_by_converged_head_accuracy_over_logme(
    book: RuleBook, priority: str, expected: str
) -> None:
    """The issue-11 case: LogME prefers Lite2, but Lite0's head is the most accurate: Lite0 wins at every priority."""
    scores = [
        _score("lite0", 3.4, 1.00).model_copy(update={"head_accuracy": 0.947}),
        _score("lite1", 4.1, 1.05).model_copy(update={"head_accuracy": 0.90}),
        _score("lite2", 4.8, 1.10).model_copy(update={"head_accuracy": 0.86}),
    ]
    pick, fired = choose_backbone(scores, priority, book.profiling)  # type: ignore[arg-type]
    assert pick.backbone == expected and fired.rule == "backbone_fit_head"
    assert fired.reason.index("lite0 0.947") < fired.reason.index("lite2 0.860")


def test_head_accuracy_ties_go_to_the_higher_logme_at_equal_size(book: RuleBook) -> None:
    scores = [
        _score("a", 4.0, 0.9).model_copy(update={"head_accuracy": 0.9}),
        _score("b", 4.0, 1.2).model_copy(update={"head_accuracy": 0.9}),
    ]
    pick, _ = choose_backbone(scores, "accuracy", book.profiling)  # type: ignore[arg-type]
    assert pick.backbone == "b"


def test_data_checks_fire_on_their_facts(book: RuleBook) -> None:
    facts = {
        "n_corrupted": 2,
        "n_leaked_groups": 1,
        "n_duplicate_groups": 1,
        "truncation_rate": 0.05,
        "imbalance_ratio": 5.0,
    }
    assert [r.id for r in book.profiling.findings(facts)] == [
        "corrupted_files",
        "leakage_across_splits",
        "duplicates",
        "imbalance",
    ]
    assert [r.id for r in book.profiling.findings({"n_corrupted": 0, "truncation_rate": 0.2})] == ["truncation"]
    near = {"n_near_duplicate_groups": 2, "n_near_leaked_groups": 1}
    assert [r.id for r in book.profiling.findings(near)] == ["near_duplicates_across_splits", "near_duplicates"]
    # probe − raw probe on 8×8 digits (Lite0, 256 examples) was −0.063; BBC News under MiniLM −0.010
    assert [r.id for r in book.profiling.findings({"probe_gain": -0.063})] == ["raw_inputs_beat_features"]
    assert book.profiling.findings({"probe_gain": -0.01}) == []
    assert book.profiling.findings({"probe_gain": None}) == []  # similarity not measured


def _edit(rules: Path, change: Any) -> None:
    path = rules / "profiling.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@pytest.mark.parametrize(
    ("change", "rule", "problem"),
    [
        (lambda d: d["similarity"].pop(), None, "no catch-all similarity rule for modality 'text'"),
        (
            lambda d: d["similarity"][0]["when"].append({"field": "colour", "op": "eq", "value": 1}),
            "image_top_drift_very_different",
            "unknown condition field(s) ['colour']",
        ),
        (lambda d: d["similarity"][0].update(level="alien"), "image_top_drift_very_different", "level"),
        (lambda d: d["backbone_fit"]["tolerance"].pop("speed"), None, "missing ['speed']"),
        (lambda d: d["backbone_fit"]["accuracy_tolerance"].pop("mobile"), None, "missing ['mobile']"),
        (lambda d: d["checks"][0]["when"][0].update(op="approx"), "corrupted_files", "op"),
    ],
)
def test_malformed_profiling_rules_are_refused_by_name(
    rules_copy: Path, change: Any, rule: str | None, problem: str
) -> None:
    _edit(rules_copy, change)
    with pytest.raises(RulesError) as caught:
        load_rulebook(rules_copy)
    assert caught.value.file.endswith("profiling.yaml")
    assert problem in caught.value.problem
    if rule is not None:
        assert caught.value.rule == rule
