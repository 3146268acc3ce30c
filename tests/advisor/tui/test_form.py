"""Typed-in text → `DatasetProfile`, or one message per questionnaire field."""

from __future__ import annotations

import pytest

from advisor.tui.form import FormErrors, parse_budget, parse_number, profile_from_form

CHOICES = {"modality": "image", "task": "classification", "similarity": "similar"}


def counts(**typed: str) -> dict[str, str]:
    return {"n_examples": "", "n_classes": "", "examples_per_class": "", "smallest_class": "", **typed}


def errors(**typed: str) -> dict[str, str]:
    with pytest.raises(FormErrors) as caught:
        profile_from_form(counts(**typed), CHOICES)
    return caught.value.messages


@pytest.mark.parametrize(("text", "value"), [("1200", 1200), ("1,200", 1200), (" 1 200 ", 1200), ("", None)])
def test_parse_number_reads_counts(text: str, value: int | None) -> None:
    assert parse_number(text) == value


def test_parse_number_refuses_words_and_fractions() -> None:
    with pytest.raises(ValueError, match="whole number"):
        parse_number("twelve")
    with pytest.raises(ValueError, match="whole number"):
        parse_number("12.5")
    assert parse_number("12.5", whole=False) == 12.5


def test_valid_answers_make_a_profile() -> None:
    profile = profile_from_form(counts(n_examples="1200", n_classes="4"), CHOICES)
    assert (profile.n_examples, profile.n_classes, profile.examples_per_class) == (1200, 4, 300)


def test_each_bad_field_gets_its_own_message() -> None:
    assert errors(n_examples="-5", n_classes="4") == {"examples": "input should be greater than 0"}
    assert errors(n_examples="abc", n_classes="x") == {
        "examples": "enter a whole number",
        "classes": "enter a whole number",
    }
    assert errors(n_classes="4") == {"examples": "required"}


def test_model_level_errors_land_on_the_field_they_name() -> None:
    assert "at least 2 classes" in errors(n_examples="100", n_classes="1")["classes"]
    assert "more than n_examples" in errors(n_examples="3", n_classes="5")["classes"]
    assert "does not match" in errors(n_examples="1000", n_classes="4", examples_per_class="10")["per-class"]
    messages = errors(n_examples="1000", n_classes="4", smallest_class="50", largest_class="10")
    assert "larger than largest_class" in messages["smallest"]


def test_budget_must_be_positive() -> None:
    assert parse_budget("45") == 45.0
    for bad in ("0", "-1", "", "soon"):
        with pytest.raises(ValueError):
            parse_budget(bad)
