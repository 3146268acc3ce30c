"""Trial diagnosis with the Common Mistakes table: each row's symptoms trigger its diagnosis."""

from __future__ import annotations

from typing import Any

import pytest

from advisor.engine.diagnose import TrialObservation, diagnose, val_loss_rose
from advisor.engine.rulebook import RuleBook

HEALTHY: dict[str, Any] = dict(
    status="complete",
    modality="image",
    train_accuracy=0.9,
    val_accuracy=0.88,
    train_val_gap=0.02,
    trainable_fraction=0.2,
    n_examples=2000,
    augmentation=True,
    smallest_stage_gain=0.03,
    head_converged=True,
    lr_backbone=1e-4,  # the guide's rate for the top layers
    input_size=224,
    pretrained_input_size=224,
    native_image_size=300,
    input_scale=1.0,
    upscale_factor=224 / 300,
    shallower_trial_did_better=False,
)


@pytest.mark.parametrize(
    ("change", "expected", "sentence"),
    [
        ({"status": "diverged"}, "learning_rate_too_high", "Learning rate too high: Loss explodes, NaN values"),
        ({"smallest_stage_gain": -0.05}, "accuracy_dropped_after_unfreezing", "accuracy drops: divide the LR by 10"),
        (
            {"smallest_stage_gain": -0.05, "lr_backbone": 3.6e-6},
            "accuracy_dropped_at_a_low_rate",
            "a tenth of 3.6e-6 is under the guide's 1e-6 for layers that should barely change",
        ),
        ({"head_converged": False}, "unfreezing_too_early", "Unfreezing too early (before classifier converges)"),
        ({"smallest_stage_gain": 0.004}, "stage_added_under_one_percent", "Stop when gain < 1%"),
        ({"smallest_stage_gain": -0.006}, "stage_added_under_one_percent", "a one-example dip is no gain, not a drop"),
        (
            {"train_val_gap": 0.3, "trainable_fraction": 1.0, "shallower_trial_did_better": True},
            "too_much_fine_tuning",
            "Too much fine-tuning: Perfect train accuracy, Poor val accuracy",
        ),
        ({"input_size": 128, "input_scale": 128 / 224}, "wrong_input_size", "e.g. 128×128 for a 224×224 model"),
        ({"native_image_size": 32, "upscale_factor": 7.0}, "tiny_images_blown_up", "tiny images blown up ×4 or more"),
        ({"train_val_gap": 0.2, "augmentation": False}, "no_data_augmentation", "No data augmentation: Large gap"),
        ({"val_loss_rose": True}, "ignoring_validation_loss", "Ignoring validation loss: Val loss increases"),
    ],
)
def test_each_mistake_is_detected(book: RuleBook, change: dict[str, Any], expected: str, sentence: str) -> None:
    found = [d.mistake for d in diagnose(TrialObservation(**{**HEALTHY, **change}), book.mistakes)]
    assert found == [expected], sentence


@pytest.mark.parametrize(
    "change",
    [
        {"train_val_gap": 0.3, "trainable_fraction": 1.0, "shallower_trial_did_better": False},  # the deeper won
        {"train_val_gap": 0.3, "trainable_fraction": 1.0, "shallower_trial_did_better": None},  # not compared
        {"upscale_factor": 3.9},  # under ×4
        {"train_val_gap": 0.1, "augmentation": False},  # train ≫ val means a gap over 0.1
        {"smallest_stage_gain": 0.01},  # 1% is enough
        {"smallest_stage_gain": None, "head_converged": None},  # head only: no stage to judge
    ],
)
def test_borderline_and_unmeasured_cases_stay_silent(book: RuleBook, change: dict[str, Any]) -> None:
    assert diagnose(TrialObservation(**{**HEALTHY, **change}), book.mistakes) == []


def test_the_words_follow_the_modality_and_quote_the_evidence(book: RuleBook) -> None:
    """Quick Reference: Vision vs NLP (Data augmentation): images rotate and flip; texts are back-translated."""
    overfit = {"train_val_gap": 0.14, "augmentation": False}
    (image,) = diagnose(TrialObservation(**{**HEALTHY, **overfit}), book.mistakes)
    (text,) = diagnose(TrialObservation(**{**HEALTHY, **overfit, "modality": "text"}), book.mistakes)
    assert "14%" in image.diagnosis and "rotation" in image.diagnosis and "back-translation" not in image.diagnosis
    assert "14%" in text.diagnosis and "back-translation" in text.diagnosis and "rotation" not in text.diagnosis
    assert "synonym replacement" in text.solution and "colour jitter" in image.solution
    (size,) = diagnose(TrialObservation(**{**HEALTHY, "input_size": 128, "input_scale": 128 / 224}), book.mistakes)
    assert "fed at 128×128" in size.diagnosis and "pretrained at 224×224" in size.diagnosis


def test_only_the_accuracy_drop_asks_for_a_retry_at_a_tenth_of_the_learning_rates(book: RuleBook) -> None:
    (drop,) = diagnose(TrialObservation(**{**HEALTHY, "smallest_stage_gain": -0.0916}), book.mistakes)
    assert drop.retry == {"lr_head": 0.1, "lr_backbone": 0.1}
    assert "-9.2%" in drop.diagnosis and "divide it by 10" in drop.diagnosis
    others = [m for m in book.mistakes.mistakes if m.id != "accuracy_dropped_after_unfreezing"]
    assert all(not m.retry for m in others)


def test_healthy_trial_has_no_diagnosis(book: RuleBook) -> None:
    assert diagnose(TrialObservation(**HEALTHY), book.mistakes) == []


def test_diagnosis_carries_the_tables_solution(book: RuleBook) -> None:
    (d,) = diagnose(TrialObservation(**{**HEALTHY, "status": "diverged"}), book.mistakes)
    assert "1e-5 or lower" in d.solution and "too high" in d.diagnosis


@pytest.mark.parametrize(
    ("losses", "rose"),
    [([1.0, 0.8, 0.7, 0.75, 0.8], True), ([1.0, 0.8, 0.7, 0.75], False), ([1.0, 0.8, 0.9, 0.85], False), ([], False)],
)
def test_val_loss_rose(losses: list[float], rose: bool) -> None:
    assert val_loss_rose(losses) is rose


def test_the_rules_may_test_exactly_what_a_trial_observes() -> None:
    """`TRIAL_FIELDS` (what rules/mistakes.yaml may name) is kept beside the rule book's schema; it
    must list every `TrialObservation` field and nothing else, or a detector goes silent or unloadable."""
    from advisor.engine.rulebook import TRIAL_FIELDS

    assert set(TrialObservation.model_fields) == TRIAL_FIELDS
