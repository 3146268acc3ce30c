"""The copied `advisor auto` command and Python snippet, and the check for `advisor.auto.tune`."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor import DatasetProfile, recommend
from advisor.tui.commands import auto_command, python_snippet


def test_auto_command_with_placeholder_and_defaults() -> None:
    profile = DatasetProfile(modality="image", n_examples=1200, n_classes=4, similarity="different")
    assert auto_command(profile, None, 30) == (
        "advisor auto DATA --out runs/advisor --budget-minutes 30 --similarity different"
    )


def test_auto_command_quotes_the_path_and_adds_a_non_default_priority() -> None:
    profile = DatasetProfile(modality="text", n_examples=500, n_classes=2, priority="speed")
    command = auto_command(profile, Path("/data/my set"), 12.5, out="runs/x")
    assert command == (
        "advisor auto '/data/my set' --out runs/x --budget-minutes 12.5 --similarity similar --priority speed"
    )


@pytest.mark.parametrize(
    "profile",
    [
        DatasetProfile(modality="image", n_examples=1200, n_classes=4, similarity="similar"),
        DatasetProfile(
            modality="text",
            n_examples=3000,
            n_classes=3,
            examples_per_class=1000,
            smallest_class=100,
            largest_class=2000,
            priority="mobile",
            hardware="gpu",
        ),
        DatasetProfile(modality="text", task="question_answering", n_examples=800, similarity="very_different"),
    ],
)
def test_python_snippet_rebuilds_the_same_recommendation(profile: DatasetProfile) -> None:
    snippet = python_snippet(profile)
    assert snippet.startswith("from advisor import DatasetProfile, recommend\n")
    namespace: dict[str, object] = {"print": lambda *_: None}
    exec(snippet, namespace)  # the snippet is our own output; running it is the test
    assert namespace["profile"] == profile
    assert namespace["rec"] == recommend(profile)


def test_python_snippet_leaves_out_derived_and_default_fields() -> None:
    snippet = python_snippet(DatasetProfile(modality="image", n_examples=1200, n_classes=4))
    assert "profile = DatasetProfile(modality='image', n_examples=1200, n_classes=4, similarity='similar')" in snippet
    assert "examples_per_class" not in snippet and "priority" not in snippet
