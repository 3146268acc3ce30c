"""Every branch of the tutorial's decision tree, each case naming the tutorial sentence it checks."""

from __future__ import annotations

from typing import Any

import pytest

from advisor import DatasetProfile, recommend
from advisor.engine.decide import RECONCILIATION_SECTION

# (profile fields, strategy, trainable fraction, the tutorial sentence)
TREE_CASES: list[tuple[dict[str, Any], str, float, str]] = [
    (
        dict(modality="image", n_examples=400, n_classes=2, similarity="different"),
        "feature_extraction",
        0.0,
        "Question 1: < 500 examples: Feature extraction only (risk of overfitting)",
    ),
    (
        dict(modality="image", n_examples=1200, n_classes=4, similarity="similar"),
        "feature_extraction",
        0.0,
        "Decision Path A. < 500 examples per class: Use Feature Extraction only (wins over Q1's 500-2,000 band)",
    ),
    (
        dict(modality="image", n_examples=2000, n_classes=2, similarity="similar"),
        "partial_fine_tune",
        0.2,
        "Decision Path B. 500-5,000 examples per class: Then Fine-tune top 10-20 layers",
    ),
    (
        dict(modality="image", n_examples=20000, n_classes=2, similarity="different"),
        "partial_fine_tune",
        0.5,
        "Decision Path C. 5,000-50,000 examples per class: Fine-tune top 50% of layers",
    ),
    (
        dict(modality="image", n_examples=120000, n_classes=2, similarity="different"),
        "full_fine_tune",
        1.0,
        "Decision Path D. > 50,000 examples per class: Can fine-tune ALL layers",
    ),
    (
        dict(modality="image", n_examples=120000, n_classes=2, similarity="very_different"),
        "from_scratch",
        1.0,
        "Decision Path D: ... or even train from scratch; Consider if your domain is very different",
    ),
    (
        dict(modality="image", n_examples=120000, n_classes=2, similarity="very_similar"),
        "feature_extraction",
        0.0,
        "Question 2: Very similar (e.g., ImageNet → dogs/cats): Feature extraction works great",
    ),
    (
        dict(modality="image", n_examples=120000, n_classes=2, similarity="similar"),
        "partial_fine_tune",
        0.2,
        "Question 2: Moderately similar (e.g., photos → medical images): Fine-tune top layers",
    ),
    (
        dict(modality="text", task="generation", n_examples=8000, similarity="different"),
        "partial_fine_tune",
        0.25,
        "Question 1: 2,000-10,000 examples: Fine-tune top 25% of layers",
    ),
    (
        dict(modality="text", task="generation", n_examples=4000, similarity="different"),
        "partial_fine_tune",
        0.2,
        "Common Mistakes: With <5K examples, unfreeze max 20% of layers",
    ),
    (
        dict(modality="text", task="seq2seq", n_examples=20000, similarity="very_different"),
        "partial_fine_tune",
        0.5,
        "Question 1: > 10,000 examples: Fine-tune all layers; capped by Decision Path C per class",
    ),
    (
        dict(modality="text", n_examples=100, n_classes=5, similarity="very_different"),
        "feature_extraction",
        0.0,
        "Very Different: Try transfer learning first (might still help!) — with tiny data only the head",
    ),
]


@pytest.mark.parametrize(
    ("fields", "strategy", "fraction", "sentence"), TREE_CASES, ids=[c[3][:60] for c in TREE_CASES]
)
def test_tree_branch(fields: dict[str, Any], strategy: str, fraction: float, sentence: str) -> None:
    rec = recommend(DatasetProfile(**fields))
    assert (rec.strategy, rec.trainable_fraction) == (strategy, fraction), sentence


def test_rationale_names_one_band_per_table_and_the_binding_rule() -> None:
    rec = recommend(DatasetProfile(modality="image", n_examples=1200, n_classes=4, similarity="similar"))
    ids = [r.rule for r in rec.rationale]
    assert ids[:3] == ["path_a_under_500_per_class", "q1_500_to_5000_total", "similar_top_layers"]
    combine = next(r for r in rec.rationale if r.rule == "smallest_of_caps_and_want")
    assert "path_a_under_500_per_class" in combine.reason
    assert combine.section == RECONCILIATION_SECTION
    assert all(r.section for r in rec.rationale)


def test_ladder_rung_gives_expected_accuracy_and_time() -> None:
    """Ladder: Rung 2 'Fine-tune Top 20 Layers: 85-90% accuracy, 30 min training'."""
    rec = recommend(DatasetProfile(modality="image", n_examples=2000, n_classes=2, similarity="similar"))
    assert rec.rung == 2 and rec.rung_name == "Fine-tune Top 20 Layers"
    assert rec.expected_accuracy is not None
    assert (rec.expected_accuracy.low, rec.expected_accuracy.high) == (0.85, 0.90)
    assert rec.time_estimate == "about 30 minutes of training"


def test_from_scratch_is_not_pretrained_and_warns() -> None:
    """'Rule of thumb: Try transfer learning FIRST ... Only train from scratch if transfer learning demonstrably fails.'"""
    rec = recommend(DatasetProfile(modality="image", n_examples=120000, n_classes=2, similarity="very_different"))
    assert rec.pretrained is False and rec.rung == 5
    assert "from_scratch_rarely_needed" in {w.rule for w in rec.warnings}


def test_vision_partial_schedule_is_progressive() -> None:
    """Progressive schedule: Stage 1 head only 10 epochs at 1e-3, Stage 2 top block at 1e-4, Stage 3 more at 1e-5."""
    rec = recommend(DatasetProfile(modality="image", n_examples=20000, n_classes=2, similarity="different"))
    got = [(s.trainable_fraction, s.epochs, s.lr_backbone) for s in rec.stages]
    assert got == [(0.0, 10, None), (0.2, 10, 1e-4), (0.5, 30, 1e-5)]


def test_decision_path_b_schedule() -> None:
    """Decision Path B: 'Start with Feature Extraction (10 epochs) Then Fine-tune top 10-20 layers (20 epochs)'."""
    rec = recommend(DatasetProfile(modality="image", n_examples=2000, n_classes=2, similarity="similar"))
    assert [(s.trainable_fraction, s.epochs) for s in rec.stages] == [(0.0, 10), (0.2, 20)]


def test_feature_extraction_is_one_head_only_stage() -> None:
    """Strategy 1: freeze the base model, train only the new classifier (EarlyStopping patience=3)."""
    rec = recommend(DatasetProfile(modality="image", n_examples=300, n_classes=3))
    assert len(rec.stages) == 1
    stage = rec.stages[0]
    assert (stage.trainable_fraction, stage.lr_head, stage.lr_backbone, stage.early_stopping_patience) == (
        0.0,
        1e-3,
        None,
        3,
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            dict(modality="image", n_examples=300, n_classes=3, smallest_class=20, largest_class=200),
            {"class_imbalance", "small_data_augmentation"},
        ),
        (dict(modality="image", n_examples=150, n_classes=3), {"too_few_per_class", "small_data_augmentation"}),
        (dict(modality="image", n_examples=3000, n_classes=2, input_size=128), {"wrong_input_size"}),
        (dict(modality="text", task="question_answering", n_examples=500), {"question_answering_data"}),
        (
            dict(modality="image", n_examples=400, n_classes=2, similarity="very_different"),
            {"very_different_domain", "different_domain_data_limits_depth"},
        ),
    ],
)
def test_warnings(fields: dict[str, Any], expected: set[str]) -> None:
    """Debugging Checklist: 'Enough data? Minimum 100 examples per class', 'Imbalanced data needs class weights'."""
    rec = recommend(DatasetProfile(**fields))
    assert expected <= {w.rule for w in rec.warnings}


def test_balanced_large_data_has_no_small_data_warnings() -> None:
    rec = recommend(
        DatasetProfile(
            modality="image",
            n_examples=50000,
            n_classes=5,
            similarity="similar",
            smallest_class=9000,
            largest_class=11000,
            hardware="gpu",
        )
    )
    assert rec.warnings == ()
