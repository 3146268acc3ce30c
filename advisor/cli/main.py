"""The `advisor` command line: parses flags into the pydantic models and prints their answers."""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from pydantic import ValidationError
from rich.console import Console

from advisor.errors import RulesError
from advisor.profile import Hardware, Modality, Priority, Similarity, Task

app = typer.Typer(
    name="advisor",
    help="Transfer-learning strategy advisor: explained recommendations from the tutorial's decision tree.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)


def _choices(name: str, literal: Any) -> type[enum.Enum]:
    """A str Enum of a Literal's values, so typer shows and checks the choices."""
    return enum.Enum(name, {value: value for value in get_args(literal)}, type=str)  # type: ignore[return-value]


ModalityChoice = _choices("ModalityChoice", Modality)
TaskChoice = _choices("TaskChoice", Task)
SimilarityChoice = _choices("SimilarityChoice", Similarity)
PriorityChoice = _choices("PriorityChoice", Priority)
HardwareChoice = _choices("HardwareChoice", Hardware)


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code=2)


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "profile"
        parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


@app.command()
def recommend(
    modality: Annotated[ModalityChoice, typer.Option(help="Kind of data.")],  # type: ignore[valid-type]
    examples: Annotated[int, typer.Option(help="Labelled training examples, in total.")],
    classes: Annotated[int | None, typer.Option(help="Number of classes (required for classification).")] = None,
    similarity: Annotated[
        SimilarityChoice, typer.Option(help="How close the data is to the backbone's pretraining data.")  # type: ignore[valid-type]
    ] = "similar",
    task: Annotated[TaskChoice, typer.Option(help="What the model has to do.")] = "classification",  # type: ignore[valid-type]
    priority: Annotated[PriorityChoice, typer.Option(help="What matters most.")] = "balanced",  # type: ignore[valid-type]
    hardware: Annotated[HardwareChoice, typer.Option(help="Where training runs.")] = "cpu",  # type: ignore[valid-type]
    examples_per_class: Annotated[
        float | None, typer.Option(help="Average examples per class (default: examples / classes).")
    ] = None,
    smallest_class: Annotated[int | None, typer.Option(help="Examples in the rarest class.")] = None,
    largest_class: Annotated[int | None, typer.Option(help="Examples in the commonest class.")] = None,
    input_size: Annotated[int | None, typer.Option(help="Image side in pixels.")] = None,
    rules: Annotated[
        Path | None, typer.Option(help="Directory of rules files to use instead of the packaged ones.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Recommendation as JSON and nothing else.")] = False,
) -> None:
    """Recommend a transfer-learning strategy, backbone, learning rates and schedule."""
    from advisor.engine.recommend import recommend as run_engine
    from advisor.profile import DatasetProfile

    fields = {
        "modality": _value(modality),
        "task": _value(task),
        "n_examples": examples,
        "n_classes": classes,
        "examples_per_class": examples_per_class,
        "smallest_class": smallest_class,
        "largest_class": largest_class,
        "similarity": _value(similarity),
        "priority": _value(priority),
        "hardware": _value(hardware),
        "input_size": input_size,
    }
    try:
        profile = DatasetProfile(**{k: v for k, v in fields.items() if v is not None})
        rec = run_engine(profile, rules=rules)
    except ValidationError as exc:
        raise _fail(_validation_message(exc)) from None
    except RulesError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        sys.stdout.write(rec.model_dump_json(indent=2) + "\n")
        return
    from advisor.cli.render import render_recommendation

    render_recommendation(rec, Console())


@app.command()
def schema() -> None:
    """Print the JSON Schema that `advisor recommend --json` output conforms to."""
    from advisor.recommendation import Recommendation

    sys.stdout.write(json.dumps(Recommendation.model_json_schema(), indent=2) + "\n")


def _value(choice: Any) -> Any:
    return choice.value if isinstance(choice, enum.Enum) else choice


def main() -> None:
    """Console-script entry point."""
    app()
