"""`DatasetProfile` validation: bad input gets a clear message naming the field and value."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from advisor import DatasetProfile


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (dict(modality="image", n_examples=-5, n_classes=2), "n_examples"),
        (dict(modality="image", n_examples=100, n_classes=1), "at least 2 classes, got n_classes=1"),
        (dict(modality="image", n_examples=100), "n_classes is required for classification"),
        (dict(modality="image", n_examples=100, n_classes=2, similarity="kinda"), "'very_similar', 'similar'"),
        (dict(modality="audio", n_examples=100, n_classes=2), "'image' or 'text'"),
        (
            dict(modality="image", n_examples=100, n_classes=2, examples_per_class=500),
            "examples_per_class=500 × n_classes=2 = 1000, which does not match n_examples=100",
        ),
        (dict(modality="image", n_examples=3, n_classes=5), "n_classes=5 is more than n_examples=3"),
        (
            dict(modality="image", n_examples=100, n_classes=2, smallest_class=60, largest_class=40),
            "smallest_class=60 is larger than largest_class=40",
        ),
        (dict(modality="image", n_examples=100, n_classes=2, colour="red"), "Extra inputs are not permitted"),
    ],
)
def test_bad_profiles_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DatasetProfile(**fields)


def test_examples_per_class_defaults_to_the_average() -> None:
    assert DatasetProfile(modality="image", n_examples=1200, n_classes=4).examples_per_class == 300
    assert DatasetProfile(modality="text", task="generation", n_examples=700).examples_per_class == 700


def test_rounded_examples_per_class_is_accepted() -> None:
    profile = DatasetProfile(modality="text", n_examples=1000, n_classes=3, examples_per_class=333)
    assert profile.examples_per_class == 333


def test_imbalance_ratio() -> None:
    profile = DatasetProfile(modality="image", n_examples=300, n_classes=2, smallest_class=50, largest_class=250)
    assert profile.imbalance_ratio == 5.0
    assert DatasetProfile(modality="image", n_examples=300, n_classes=2).imbalance_ratio is None
