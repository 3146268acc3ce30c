"""Pure builders for the text the recommendation view copies: the `advisor auto` command and a Python snippet."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from advisor.profile import DatasetProfile

DEFAULT_OUT = "runs/advisor"
DATA_PLACEHOLDER = "DATA"

# Fields every snippet spells out, even at their defaults, because they are the decision tree's questions.
_ALWAYS = ("modality", "n_examples", "n_classes", "similarity")


def auto_command(
    profile: DatasetProfile,
    data: Path | str | None,
    budget_minutes: float,
    out: str = DEFAULT_OUT,
) -> str:
    """The shell command that runs the search for this profile.

    Args:
        profile: The profile the recommendation was made for (gives similarity and priority).
        data: The dataset folder or file; `DATA` stands in when none was given.
        budget_minutes: Wall-clock budget of the whole search.
        out: Output directory of the search.

    Returns:
        One line, `advisor auto DATA --out runs/advisor --budget-minutes M --similarity LEVEL`.
    """
    target = shlex.quote(str(data)) if data else DATA_PLACEHOLDER
    parts = [
        "advisor auto",
        target,
        f"--out {shlex.quote(out)}",
        f"--budget-minutes {budget_minutes:g}",
        f"--similarity {profile.similarity}",
    ]
    if profile.priority != "balanced":
        parts.append(f"--priority {profile.priority}")
    return " ".join(parts)


def _snippet_fields(profile: DatasetProfile) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    defaults = DatasetProfile.model_fields
    for name, value in profile.model_dump().items():
        if name == "examples_per_class" and profile.n_classes and value == profile.n_examples / profile.n_classes:
            continue  # derived by DatasetProfile itself
        if name == "examples_per_class" and not profile.n_classes and value == float(profile.n_examples):
            continue
        if name in _ALWAYS or value != defaults[name].default:
            if value is not None:
                fields[name] = value
    return fields


def python_snippet(profile: DatasetProfile) -> str:
    """Python that rebuilds this profile and asks the engine for the same recommendation."""
    arguments = ", ".join(f"{name}={value!r}" for name, value in _snippet_fields(profile).items())
    return (
        "from advisor import DatasetProfile, recommend\n"
        "\n"
        f"profile = DatasetProfile({arguments})\n"
        "rec = recommend(profile)\n"
        "print(rec.model_dump_json(indent=2))\n"
    )
