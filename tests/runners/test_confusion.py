"""The confusion matrix the report shows: counts, accuracy and per-class accuracy worked by hand."""

from __future__ import annotations

import pytest

from runners import Confusion


def test_confusion_counts_truth_rows_against_predicted_columns() -> None:
    truth = ["cat", "cat", "cat", "cat", "dog", "dog", "eel"]
    predicted = ["cat", "cat", "dog", "cat", "dog", "dog", "cat"]
    confusion = Confusion.of(truth, predicted)
    assert confusion.classes == ["cat", "dog", "eel"]
    assert confusion.counts == [[3, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert confusion.total == 7
    assert confusion.accuracy == pytest.approx(5 / 7)
    assert confusion.per_class == {"cat": pytest.approx(0.75), "dog": 1.0, "eel": 0.0}


def test_a_class_only_predicted_has_no_accuracy_of_its_own() -> None:
    confusion = Confusion.of(["a", "a"], ["a", "b"])
    assert confusion.counts == [[1, 1], [0, 0]]
    assert confusion.per_class == {"a": 0.5, "b": None}
    assert Confusion.model_validate(confusion.model_dump()) == confusion  # what the study stores
