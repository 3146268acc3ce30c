"""Turn the questionnaire's typed-in text into a `DatasetProfile`, or into one message per field.

Pure functions, so the mapping from `ValidationError` locations to fields is unit-tested without a screen.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from advisor.profile import DatasetProfile

# Profile field → the id of the Input (and of its `<id>-error` label) in the questionnaire.
FIELD_INPUTS: dict[str, str] = {
    "n_examples": "examples",
    "n_classes": "classes",
    "examples_per_class": "per-class",
    "smallest_class": "smallest",
    "largest_class": "largest",
}
REQUIRED = ("n_examples",)
# Model-level errors name the fields in their message; the first field named here gets the message
# (examples_per_class before n_classes: its message mentions both).
_MESSAGE_ORDER = ("examples_per_class", "smallest_class", "n_classes", "n_examples")


class FormErrors(ValueError):
    """The questionnaire's answers do not make a valid profile; `messages` maps input id → message."""

    def __init__(self, messages: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in messages.items()))
        self.messages = messages


def parse_number(text: str, *, whole: bool = True) -> int | float | None:
    """Read a typed-in count (`1200`, `1,200`, `1 200`); blank → None.

    Raises:
        ValueError: When the text is not a number (or not a whole number where one is needed).
    """
    cleaned = text.strip().replace(",", "").replace("_", "").replace(" ", "")
    if not cleaned:
        return None
    try:
        return int(cleaned) if whole else float(cleaned)
    except ValueError:
        raise ValueError("enter a whole number" if whole else "enter a number") from None


def validation_messages(exc: ValidationError) -> dict[str, str]:
    """Map each pydantic error to the questionnaire input it is about (first message per input)."""
    messages: dict[str, str] = {}
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        loc = error["loc"]
        field = str(loc[0]) if loc else next((f for f in _MESSAGE_ORDER if f in message), "n_examples")
        input_id = FIELD_INPUTS.get(field, "examples")
        messages.setdefault(input_id, message[:1].lower() + message[1:])
    return messages


def profile_from_form(counts: Mapping[str, str], choices: Mapping[str, str]) -> DatasetProfile:
    """Build the profile from the count inputs' text and the chosen options.

    Args:
        counts: Profile field (`n_examples`, `n_classes`, …) → the text typed in its input.
        choices: Profile field (`modality`, `task`, `similarity`, `priority`, `hardware`) → value.

    Raises:
        FormErrors: One message per offending input.
    """
    messages: dict[str, str] = {}
    data: dict[str, object] = dict(choices)
    for field, text in counts.items():
        try:
            value = parse_number(text, whole=field != "examples_per_class")
        except ValueError as exc:
            messages[FIELD_INPUTS[field]] = str(exc)
            continue
        if value is None and field in REQUIRED:
            messages[FIELD_INPUTS[field]] = "required"
        elif value is not None:
            data[field] = value
    if messages:
        raise FormErrors(messages)
    try:
        return DatasetProfile.model_validate(data)
    except ValidationError as exc:
        raise FormErrors(validation_messages(exc)) from None


def parse_budget(text: str) -> float:
    """The time budget in minutes (a positive number).

    Raises:
        ValueError: With the message for the budget field.
    """
    value = parse_number(text, whole=False)
    if value is None or value <= 0:
        raise ValueError("enter a positive number of minutes")
    return float(value)
