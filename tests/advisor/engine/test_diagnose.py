"""Trial diagnosis with the Common Mistakes table: each row's symptoms trigger its diagnosis."""

from __future__ import annotations

from typing import Any

import pytest

from advisor.engine.diagnose import TrialObservation, diagnose, val_loss_rose
from advisor.engine.loader import RuleBook

HEALTHY: dict[str, Any] = dict(
    status="complete",
    train_accuracy=0.9,
    val_accuracy=0.88,
    train_val_gap=0.02,
    trainable_fraction=0.2,
    n_examples=2000,
    augmentation=True,
    head_epochs_before_unfreeze=10,
    accuracy_dropped_after_unfreeze=False,
)


@pytest.mark.parametrize(
    ("change", "expected", "sentence"),
    [
        ({"status": "diverged"}, "learning_rate_too_high", "Learning rate too high: Loss explodes, NaN values"),
        (
            {"head_epochs_before_unfreeze": 2, "accuracy_dropped_after_unfreeze": True},
            "unfreezing_too_early",
            "Unfreezing too early: Always train classifier first (10+ epochs)",
        ),
        (
            {"train_accuracy": 1.0, "val_accuracy": 0.7, "train_val_gap": 0.3, "trainable_fraction": 1.0},
            "too_much_fine_tuning",
            "Too much fine-tuning: Perfect train accuracy, Poor val accuracy",
        ),
        ({"input_size_mismatch": True}, "wrong_input_size", "Wrong input size: e.g. 128×128 for a 224×224 model"),
        (
            {"train_val_gap": 0.2, "augmentation": False, "trainable_fraction": 0.0},
            "no_data_augmentation",
            "No data augmentation: Large train/val gap",
        ),
        ({"val_loss_rose": True}, "ignoring_validation_loss", "Ignoring validation loss: Val loss increases"),
    ],
)
def test_each_mistake_is_detected(book: RuleBook, change: dict[str, Any], expected: str, sentence: str) -> None:
    found = [d.mistake for d in diagnose(TrialObservation(**{**HEALTHY, **change}), book.mistakes)]
    assert found == [expected], sentence


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
