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

from advisor.auto.config import DEFAULT_STUDY_NAME, GRACE_SECONDS, HEARTBEAT_SECONDS, PrunerName
from advisor.auto.workers import STORAGE_ENV
from advisor.errors import RulesError
from advisor.exporting import ExportFormat
from advisor.profile import Hardware, Modality, Priority, Similarity, Task
from runners.device import Device
from runners.specs import DihedralViews

app = typer.Typer(
    name="advisor",
    help="Transfer-learning strategy advisor: explained recommendations from the tutorial's decision tree.",
    invoke_without_command=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,  # locals may hold the storage URL and its password
)


def _choices(name: str, literal: Any) -> type[enum.Enum]:
    """A str Enum of a Literal's values, so typer shows and checks the choices."""
    return enum.Enum(name, {value: value for value in get_args(literal)}, type=str)  # type: ignore[return-value]


ModalityChoice = _choices("ModalityChoice", Modality)
TaskChoice = _choices("TaskChoice", Task)
SimilarityChoice = _choices("SimilarityChoice", Similarity)
PriorityChoice = _choices("PriorityChoice", Priority)
HardwareChoice = _choices("HardwareChoice", Hardware)
DeviceChoice = _choices("DeviceChoice", Device)
ExportFormatChoice = _choices("ExportFormatChoice", ExportFormat)


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code=2)


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "profile"
        parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


@app.callback()
def _default(ctx: typer.Context) -> None:
    """With no command, open the questionnaire (the Textual TUI)."""
    if ctx.invoked_subcommand is None:
        from advisor.tui.app import run_tui

        run_tui()


@app.command()
def tui() -> None:
    """Open the questionnaire: answer a few questions, read the explained recommendation, run it."""
    from advisor.tui.app import run_tui

    run_tui()


@app.command()
def recommend(
    modality: Annotated[ModalityChoice | None, typer.Option(help="Kind of data (measured with --data).")] = None,  # type: ignore[valid-type]
    examples: Annotated[
        int | None, typer.Option(help="Labelled training examples, in total (counted with --data).")
    ] = None,
    classes: Annotated[int | None, typer.Option(help="Number of classes (required for classification).")] = None,
    similarity: Annotated[
        SimilarityChoice | None,  # type: ignore[valid-type]
        typer.Option(
            help="How close the data is to the backbone's pretraining data (default: similar; measured with --data)."
        ),
    ] = None,
    task: Annotated[TaskChoice, typer.Option(help="What the model has to do.")] = "classification",  # type: ignore[valid-type]
    priority: Annotated[PriorityChoice, typer.Option(help="What matters most.")] = "balanced",  # type: ignore[valid-type]
    hardware: Annotated[HardwareChoice, typer.Option(help="Where training runs.")] = "cpu",  # type: ignore[valid-type]
    examples_per_class: Annotated[
        float | None, typer.Option(help="Average examples per class (default: examples / classes).")
    ] = None,
    smallest_class: Annotated[int | None, typer.Option(help="Examples in the rarest class.")] = None,
    largest_class: Annotated[int | None, typer.Option(help="Examples in the commonest class.")] = None,
    input_size: Annotated[int | None, typer.Option(help="Image side in pixels.")] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Profile this dataset (folder or CSV/TSV/JSONL) and use the measured answers; flags given too win."
        ),
    ] = None,
    backbone: Annotated[str | None, typer.Option(help="With --data: measure against this backbone only.")] = None,
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
    given = {k: v for k, v in fields.items() if v is not None}
    try:
        if data is not None:
            report = _profile_or_fail(
                data,
                backbone=backbone,
                priority=_value(priority),
                hardware=_value(hardware),
                rules=rules,
                quiet=as_json,
            )
            from advisor.profiling.apply import recommend_measured

            measured = report.profile.model_dump(exclude={"examples_per_class"})
            profile = DatasetProfile(**{**measured, **given})
            evidence = report.evidence
            if "similarity" in given:  # the person's answer wins; the measured verdict would contradict it
                evidence = evidence.model_copy(update={"similarity": None})
            rec = recommend_measured(profile, evidence, rules=rules)
        else:
            for name, flag in (("modality", "--modality"), ("n_examples", "--examples")):
                if name not in given:
                    raise _fail(f"{flag} is required (or give --data DATA to measure it)")
            rec = run_engine(DatasetProfile(**given), rules=rules)
    except ValidationError as exc:
        raise _fail(_validation_message(exc)) from None
    except RulesError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        sys.stdout.write(rec.model_dump_json(indent=2) + "\n")
        return
    from advisor.cli.render import render_recommendation
    from advisor.engine.loader import load_rulebook

    render_recommendation(rec, Console(), load_rulebook(rules).ladder)


def _profile_or_fail(data: Path, quiet: bool = False, **settings: Any) -> Any:
    """`profile_dataset` with a progress line on stderr; data and backbone problems exit with status 2."""
    from advisor.profiling import profile_dataset
    from runners.errors import RunnerError

    console = Console(stderr=True)
    status = console.status("profiling") if console.is_terminal and not quiet else None

    def progress(stage: str, done: int, total: int) -> None:
        if status is not None:
            status.update(f"{stage}: {done}/{total}")

    if status is not None:
        status.start()
    try:
        return profile_dataset(data, progress=progress, **settings)
    except RunnerError as exc:
        raise _fail(str(exc)) from None
    finally:
        if status is not None:
            status.stop()


@app.command()
def profile(
    data: Annotated[
        Path, typer.Argument(help="Image folder (class sub-folders), CSV/TSV/JSONL table, or text folder.")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the DatasetProfile and the evidence as JSON and nothing else.")
    ] = False,
    similarity: Annotated[
        bool,
        typer.Option(help="Measure similarity and backbone fit with a frozen pass (--no-similarity: no model is run)."),
    ] = True,
    backbone: Annotated[
        str | None, typer.Option(help="Measure against this backbone only (default: every offline or hub-cached one).")
    ] = None,
    weights: Annotated[str | None, typer.Option(help="Local weights file or folder for --backbone.")] = None,
    sample: Annotated[
        int | None, typer.Option(min=2, help="Examples the frozen pass measures (default: rules' sample).")
    ] = None,
    priority: Annotated[
        PriorityChoice,  # type: ignore[valid-type]
        typer.Option(help="What matters most (weighs backbone fit against size)."),
    ] = "balanced",
    text_column: Annotated[str, typer.Option(help="Text column of a table.")] = "text",
    label_column: Annotated[str, typer.Option(help="Label column of a table.")] = "label",
    max_length: Annotated[int, typer.Option(min=8, help="Token length the runners truncate to.")] = 128,
    device: Annotated[DeviceChoice, typer.Option(help="Where the frozen pass runs.")] = "cpu",  # type: ignore[valid-type]
    rules: Annotated[
        Path | None, typer.Option(help="Directory of rules files to use instead of the packaged ones.")
    ] = None,
) -> None:
    """Profile a dataset: counts, corrupted files, duplicates and leakage, sizes or token lengths,
    and the measured domain similarity and backbone fit."""
    try:
        report = _profile_or_fail(
            data,
            quiet=as_json,
            measure_similarity=similarity,
            backbone=backbone,
            weights=weights,
            sample=sample,
            priority=_value(priority),
            text_column=text_column,
            label_column=label_column,
            max_length=max_length,
            device=_value(device),
            rules=rules,
        )
    except RulesError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return
    from advisor.cli.render import render_profile

    render_profile(report, Console())


@app.command()
def schema() -> None:
    """Print the JSON Schema that `advisor recommend --json` output conforms to."""
    from advisor.recommendation import Recommendation

    sys.stdout.write(json.dumps(Recommendation.model_json_schema(), indent=2) + "\n")


PrunerChoice = _choices("PrunerChoice", PrunerName)
# Numbers as choices: typer shows and checks them like the named ones.
DihedralChoice = enum.Enum(  # type: ignore[misc]
    "DihedralChoice", {v: v for v in ("auto", *(str(n) for n in get_args(DihedralViews)))}, type=str
)


@app.command()
def auto(
    data: Annotated[
        Path,
        typer.Argument(help="Image folder (a sub-folder per class), text folder, or CSV/TSV/JSONL with text, label."),
    ],
    out: Annotated[Path, typer.Option(help="Output folder: study.db, report.json/.md, plots, model/.")],
    budget_minutes: Annotated[float, typer.Option(help="Wall clock for the whole search.")] = 30.0,
    trials: Annotated[int | None, typer.Option(help="Stop after this many finished trials.")] = None,
    backbone: Annotated[str | None, typer.Option(help="timm / Hugging Face / packaged-weights name.")] = None,
    weights: Annotated[str | None, typer.Option(help="Local weights file or folder.")] = None,
    similarity: Annotated[
        SimilarityChoice | None,  # type: ignore[valid-type]
        typer.Option(help="Domain similarity (default: measured from the data with a frozen pass)."),
    ] = None,
    measure: Annotated[
        bool, typer.Option(help="Measure similarity and rank offline backbones when --similarity is not given.")
    ] = True,
    priority: Annotated[PriorityChoice, typer.Option(help="What matters most.")] = "balanced",  # type: ignore[valid-type]
    storage: Annotated[
        str | None,
        typer.Option(envvar=STORAGE_ENV, help="Optuna storage URL (default sqlite:///OUT/study.db)."),
    ] = None,
    study_name: Annotated[str, typer.Option(help="Study name; the same name and storage resume.")] = DEFAULT_STUDY_NAME,
    seed: Annotated[int, typer.Option(help="Seed of the split and the sampler.")] = 0,
    device: Annotated[DeviceChoice, typer.Option(help="Where trials train.")] = "auto",  # type: ignore[valid-type]
    pruner: Annotated[PrunerChoice, typer.Option(help="How weak trials are stopped early.")] = "hyperband",  # type: ignore[valid-type]
    max_epochs_per_stage: Annotated[int, typer.Option(help="Most epochs a trial may train per stage.")] = 8,
    batch_size: Annotated[int, typer.Option(help="Training batch size.")] = 32,
    text_column: Annotated[str, typer.Option(help="Text column of a table.")] = "text",
    label_column: Annotated[str, typer.Option(help="Label column of a table.")] = "label",
    workers: Annotated[int, typer.Option(help="Local worker processes sharing the study.")] = 1,
    heartbeat_seconds: Annotated[
        int, typer.Option(help="How often a running trial reports it is alive.")
    ] = HEARTBEAT_SECONDS,
    grace_seconds: Annotated[
        int, typer.Option(help="Silence after which a running trial is failed and retried.")
    ] = GRACE_SECONDS,
    refit: Annotated[
        bool, typer.Option(help="Retrain the selected model(s) on train + validation before export.")
    ] = True,
    ensemble: Annotated[
        bool,
        typer.Option(
            help="Export a greedy ensemble of the best trials and a classical member (TF-IDF, or pixels for images) when it helps."
        ),
    ] = True,
    linear_probe_first: Annotated[
        bool, typer.Option(help="Fine-tuning starts from the converged head (LP-FT); off: from a random head.")
    ] = True,
    dihedral_views: Annotated[
        DihedralChoice,  # type: ignore[valid-type]
        typer.Option(
            help="Images with no 'up' (cells, tissue, aerial views): head-only models fit and predict on each "
            "image and its half turn (2), its 4 right-angle rotations (4), or those and their mirror images (8): "
            "a frozen pass per view. auto: the search tries the image as it is, then 2 and 4 views, and keeps "
            "what validates better; 1: never."
        ),
    ] = "auto",  # type: ignore[assignment]
    second_backbone: Annotated[
        str,
        typer.Option(
            help="A second backbone whose frozen features head-only trials may also read, for an ensemble whose "
            "heads err apart: auto (pretrained weights, no --weights) takes the largest other packaged backbone "
            "of the modality; none: never; or a backbone name."
        ),
    ] = "auto",
) -> None:
    """Search unfreeze depth and learning rates with real fine-tuning trials; write the best model and a report."""
    from advisor.auto.config import TuneConfig

    try:
        config = TuneConfig(
            data=data,
            out=out,
            budget_minutes=budget_minutes,
            trials=trials,
            backbone=backbone,
            weights=weights,
            similarity=_value(similarity),
            measure_similarity=measure,
            priority=_value(priority),
            storage=storage,
            study_name=study_name,
            seed=seed,
            device=_value(device),
            pruner=_value(pruner),
            max_epochs_per_stage=max_epochs_per_stage,
            batch_size=batch_size,
            text_column=text_column,
            label_column=label_column,
            workers=workers,
            heartbeat_seconds=heartbeat_seconds,
            grace_seconds=grace_seconds,
            refit=refit,
            ensemble=ensemble,
            linear_probe_first=linear_probe_first,
            dihedral_views=_views(_value(dihedral_views)),
            second_backbone=second_backbone,
        )
    except ValidationError as exc:
        raise _fail(_validation_message(exc)) from None
    _search(config, worker=0)


def _search(config: Any, worker: int, finish: bool = True) -> None:
    """Run the search with a live progress line (without `finish`, this worker's trials only); map
    expected failures to one-line errors (exit 2)."""
    import optuna

    from advisor.auto.progress import StepProgress, TerminalProgress
    from advisor.auto.search import SearchFailed, join_trials, run_search
    from advisor.auto.storage import StorageError
    from advisor.cli.render import render_report
    from runners.errors import BackboneError, DataError, RunnerError

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the progress lines say it better
    console = Console()
    steps = StepProgress(console)  # set-up's long steps and the test split's scoring, each with an estimate

    def trial_events(n_blocks: int, deadline: float, notes: list[str]) -> TerminalProgress:
        steps.close()  # set-up is over
        return TerminalProgress(console, n_blocks, deadline, notes)

    try:
        if not finish:
            trials, interrupted = join_trials(config, worker, events_factory=trial_events, progress=steps)
            console.print(
                f"worker {worker}: {trials} trial{'' if trials == 1 else 's'} finished; the run that started "
                "the study refits, exports and reports it.",
                highlight=False,
            )
            if interrupted:
                raise typer.Exit(code=130)
            return
        report = run_search(config, worker=worker, events_factory=trial_events, progress=steps)
    except (DataError, BackboneError, RunnerError, StorageError, SearchFailed) as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:  # outside the trials (setup, finishing): no report from this run
        console.print(
            "Interrupted before the report was written: the trials finished so far are kept in the study; "
            "run the same command again to resume."
            if finish
            else f"worker {worker}: interrupted; the trials finished so far are kept in the study, and the run "
            "that started it refits, exports and reports it.",
            highlight=False,
        )
        raise typer.Exit(code=130) from None
    finally:
        steps.close()
    render_report(report, console, config.out)
    if report.interrupted:
        raise typer.Exit(code=130)


@app.command()
def worker(
    storage: Annotated[str, typer.Option(envvar=STORAGE_ENV, help="Optuna storage URL of the study.")],
    study_name: Annotated[str, typer.Option(help="Name of a study started by `advisor auto`.")] = DEFAULT_STUDY_NAME,
    budget_minutes: Annotated[
        float | None, typer.Option(help="This worker's wall clock (default: the study's).")
    ] = None,
    index: Annotated[int, typer.Option(help="Worker number; offsets the sampler seed.")] = 1,
    trials: Annotated[int | None, typer.Option(help="Stop when the study has this many finished trials.")] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="This worker's trials, and its report and model when it finishes "
            "(default: OUT/workers/<host>-<pid> of the study)."
        ),
    ] = None,
    finish: Annotated[
        bool,
        typer.Option(
            help="Refit, export and report the whole study when the trials end; with --no-finish, run trials "
            "only and leave that to the run that started the study (what `advisor auto --workers N` starts)."
        ),
    ] = True,
) -> None:
    """Join a search: data, search space and settings come from the study itself."""
    from advisor.auto.storage import StorageError
    from advisor.auto.workers import stored_config

    try:
        config = stored_config(storage, study_name, budget_minutes=budget_minutes, trials=trials, out=out)
    except (StorageError, KeyError) as exc:
        raise _fail(str(exc).strip("'\"")) from None
    except ValidationError as exc:
        raise _fail(f"the study's stored settings no longer validate here: {_validation_message(exc)}") from None
    _search(config, worker=index, finish=finish)


@app.command()
def predict(
    model_dir: Annotated[Path, typer.Argument(help="A model folder written by advisor auto (OUT/model).")],
    inputs: Annotated[
        list[str], typer.Argument(help="Image files/folders, text files, CSV/TSV/JSONL files, or texts.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print predictions as JSON lines.")] = False,
) -> None:
    """Predict labels with a trained model; prints label and confidence per input (and accuracy if labelled)."""
    from advisor.predicting import PredictionError, predict_inputs

    try:
        rows, accuracy = predict_inputs(model_dir, inputs)
    except PredictionError as exc:
        raise _fail(str(exc)) from None
    console = Console()
    for row in rows:
        if as_json:
            sys.stdout.write(json.dumps(row) + "\n")
        else:
            truth = f"  (true: {row['true_label']})" if row.get("true_label") is not None else ""
            console.print(f"{row['input']}\t[bold]{row['label']}[/]\t{row['confidence']:.3f}{truth}", highlight=False)
    if accuracy is not None and not as_json:
        console.print(f"accuracy {accuracy:.4f} on {len(rows)} labelled inputs", highlight=False)


@app.command("export")
def export_command(
    model_dir: Annotated[Path, typer.Argument(help="A model folder written by advisor auto (OUT/model).")],
    inputs: Annotated[
        list[str] | None,
        typer.Argument(help="Examples to check the export on, as for advisor predict (default: made-up ones)."),
    ] = None,
    fmt: Annotated[ExportFormatChoice, typer.Option("--format", help="What to write.")] = "onnx",  # type: ignore[valid-type]
    out: Annotated[Path | None, typer.Option(help="Output folder (default: MODEL_DIR/onnx).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Write the model as ONNX with its preprocessing; check it with onnxruntime and time it on the CPU."""
    from advisor.exporting import ExportError, export_lines, export_model

    try:
        summary = export_model(model_dir, _value(fmt), out, inputs or None)
    except ExportError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        for line in export_lines(summary):
            Console().print(line, highlight=False)
    if not summary["check"]["passed"]:
        raise _fail("onnxruntime's probabilities differ from PyTorch's beyond the tolerance; do not ship these files")


@app.command()
def example(
    name: Annotated[str, typer.Argument(help="elpv, elpv4 or bbc.")],
    target: Annotated[Path, typer.Argument(help="Folder to write the example into.")],
    limit: Annotated[int | None, typer.Option(help="Keep a class-stratified subset of about this size.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the subset.")] = 0,
    holdout: Annotated[
        int,
        typer.Option(
            min=0,
            help="Also write about this many other examples, none in the dataset, for `advisor predict` "
            "(TARGET/heldout.csv for text, TARGET-heldout/ for images).",
        ),
    ] = 0,
) -> None:
    """Write an offline example dataset (needs the `offline` extra) and print the path to pass to `advisor auto`."""
    from advisor.examples import EXAMPLES, heldout_path, write_example

    if name not in EXAMPLES:
        choices = ", ".join(f"{k} ({example.description})" for k, example in EXAMPLES.items())
        raise _fail(f"unknown example {name!r}; choose one of: {choices}")
    try:
        path = write_example(name, target, limit=limit, seed=seed, holdout=holdout)
    except ModuleNotFoundError as exc:
        raise _fail(f"{exc}; install the offline data with: pip install 'advisor[offline]'") from None
    sys.stdout.write(f"{path}\n")
    if holdout:
        held = target / "heldout.csv" if path.is_file() else heldout_path(target)
        sys.stderr.write(f"held-out examples for advisor predict: {held}\n")


def _value(choice: Any) -> Any:
    return choice.value if isinstance(choice, enum.Enum) else choice


def _views(choice: str) -> int | str:
    """`--dihedral-views`: a count as a number, "auto" as it is."""
    return choice if choice == "auto" else int(choice)


def main() -> None:
    """Console-script entry point."""
    app()
