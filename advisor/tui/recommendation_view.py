"""`RecommendationScreen`: the explained answer — ladder, backbone, schedule, warnings, rules — and its actions."""

from __future__ import annotations

import re
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Static, TextArea

from advisor.engine.loader import load_rulebook
from advisor.engine.rulebook import Ladder
from advisor.recommendation import Recommendation, Stage
from advisor.tui.commands import auto_command, python_snippet
from advisor.tui.ladder import LadderWidget

DEFAULT_SAVE_PATH = "./recommendation.json"
STAGE_COLUMNS = ("trainable", "epochs", "LR head", "LR backbone", "layer-wise", "warmup", "weight decay")


STAGE_NAME_WIDTH = 24


def _lr(value: float | None) -> str:
    """`1e-04` → `1e-4`: the tutorial's spelling, and narrower columns."""
    if value is None:
        return "frozen"
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def stage_row(stage: Stage) -> tuple[str, ...]:
    """The schedule table's cells for one stage."""
    backbone = _lr(stage.lr_backbone)
    if stage.lr_backbone_range:
        low, high = stage.lr_backbone_range
        backbone += f" ({_lr(low)}–{_lr(high)})"
    return (
        re.sub(r"^Stage \d+: ", "", stage.name),
        f"{stage.trainable_fraction:.0%}",
        str(stage.epochs),
        _lr(stage.lr_head),
        backbone,
        f"÷{stage.layerwise_span:g}" if stage.layerwise_span else "uniform",
        f"{stage.warmup_ratio:.0%}" if stage.warmup_ratio else "—",
        f"{stage.weight_decay:g}" if stage.weight_decay else "—",
    )


def _rationale_table(rec: Recommendation) -> Table:
    table = Table(expand=True, show_edge=False, pad_edge=False)
    table.add_column("rule", style="bold", no_wrap=True)
    table.add_column("reason", ratio=3)
    table.add_column("tutorial section", style="italic", ratio=2)
    for fired in rec.rationale:
        table.add_row(fired.rule, fired.reason, fired.section)
    return table


def _backbone_text(rec: Recommendation) -> Text:
    chosen = rec.backbone
    text = Text.assemble(
        (chosen.name, "bold"), f"  {chosen.model_id} · {chosen.params_millions:g}M params\n", chosen.reason
    )
    for alternative in chosen.alternatives:
        text.append(f"\n• {alternative.name} ({alternative.model_id}) — {alternative.best_for}")
    return text


class RecommendationScreen(Screen[None]):
    """Shows one `Recommendation` and saves, copies or runs it."""

    CSS_PATH = "recommendation.tcss"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save JSON"),
        Binding("c", "copy_command", "Copy command"),
        Binding("p", "copy_python", "Copy Python"),
        Binding("ctrl+r", "run", "Run search"),
        Binding("escape", "back", "Back"),
    ]

    class RunRequested(Message):
        """The person asked to run the search for this recommendation."""

        def __init__(self, recommendation: Recommendation, command: str, data: Path, budget_minutes: float) -> None:
            super().__init__()
            self.recommendation = recommendation
            self.command = command
            self.data = data
            self.budget_minutes = budget_minutes

    def __init__(
        self,
        recommendation: Recommendation,
        budget_minutes: float = 30,
        data: Path | None = None,
        ladder: Ladder | None = None,
    ) -> None:
        """Show `recommendation`.

        Args:
            recommendation: The engine's answer.
            budget_minutes: Goes into the `advisor auto` command and the run.
            data: The dataset path, for the command and the run (`DATA` in the command when None).
            ladder: The ladder of the rule book that made the answer (default: the packaged one): its
                rungs and the wording of the strategies.
        """
        super().__init__()
        self._ladder = ladder if ladder is not None else load_rulebook().ladder
        self.recommendation = recommendation
        self.budget_minutes = budget_minutes
        self.data = data

    @property
    def command(self) -> str:
        """The `advisor auto` command for this recommendation."""
        return auto_command(self.recommendation.profile, self.data, self.budget_minutes)

    @property
    def snippet(self) -> str:
        """Python that reproduces this recommendation."""
        return python_snippet(self.recommendation.profile)

    def compose(self) -> ComposeResult:
        """Headline, ladder and backbone side by side, schedule, warnings, rules, actions."""
        rec = self.recommendation
        yield Header()
        with VerticalScroll(id="report"):
            yield Static(
                Text.assemble(
                    (self._ladder.strategies[rec.strategy], "bold"),
                    f"  ·  train {rec.trainable_fraction:.0%} of the backbone",
                ),
                id="headline",
            )
            with Horizontal(id="top"):
                with Vertical(id="ladder-box", classes="box"):
                    yield LadderWidget(rec.rung, self._ladder.rungs, id="ladder")
                    yield Static(self._expectation(), id="expectation")
                with Vertical(id="backbone-box", classes="box"):
                    yield Static(_backbone_text(rec), id="backbone")
            yield Label("Schedule: learning rates per stage", classes="section-title")
            yield DataTable(id="stages", cursor_type="row", zebra_stripes=True)
            if rec.warnings:
                yield Label("Warnings", classes="section-title")
                for warning in rec.warnings:
                    yield Static(f"⚠ {warning.reason}  [{warning.section}]", classes="warning")
            yield Label("Why: the rules that fired", classes="section-title")
            yield Static(_rationale_table(rec), id="rationale")
            yield Label("Command and Python (c / p copy them)", classes="section-title")
            yield TextArea(f"{self.command}\n\n{self.snippet}", read_only=True, id="command-text")
        with Vertical(id="actions"):
            with Horizontal(id="action-row"):
                yield Label("Save to ")
                yield Input(DEFAULT_SAVE_PATH, id="save-path", compact=True)
                yield Button("Save JSON", id="save", variant="primary", compact=True)
                yield Button("Copy command", id="copy-command", compact=True)
                yield Button("Copy Python", id="copy-python", compact=True)
                yield Button("Run search", id="run", variant="success", compact=True)
                yield Button("Back", id="back", compact=True)
            yield Label("", id="save-error", classes="error")
        yield Footer()

    def _expectation(self) -> str:
        rec = self.recommendation
        parts = [f"Rung {rec.rung}: {rec.rung_name}"]
        if rec.expected_accuracy:
            parts.append(f"expected accuracy {rec.expected_accuracy.low:.0%}–{rec.expected_accuracy.high:.0%}")
        if rec.time_estimate:
            parts.append(rec.time_estimate)
        return " · ".join(parts)

    def on_mount(self) -> None:
        """Fill the schedule table; set titles and cursor blink."""
        self.title = "advisor"
        self.sub_title = f"{self.recommendation.profile.modality} · {self.recommendation.profile.n_examples} examples"
        table = self.query_one("#stages", DataTable)
        table.add_column("stage", width=STAGE_NAME_WIDTH)
        table.add_columns(*STAGE_COLUMNS)
        for stage in self.recommendation.stages:
            cells = stage_row(stage)
            table.add_row(Text(cells[0], overflow="fold"), *cells[1:], height=None)
        blink = getattr(self.app, "cursor_blink", True)
        self.query_one("#save-path", Input).cursor_blink = blink
        self.query_one("#command-text", TextArea).cursor_blink = blink
        self.query_one("#save-error").display = False
        # The report itself takes focus: arrows and page keys read it, tab reaches the actions.
        self.query_one("#report", VerticalScroll).focus()

    @on(Button.Pressed, "#save")
    @on(Input.Submitted, "#save-path")
    def action_save(self) -> None:
        """Write the recommendation as JSON to the path in the save field."""
        error = self.query_one("#save-error", Label)
        text = self.query_one("#save-path", Input).value.strip()
        target = Path(text).expanduser()
        try:
            if not text:
                raise ValueError("enter a file path")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(self.recommendation.model_dump_json(indent=2) + "\n", encoding="utf-8")
        except ValueError as exc:
            error.update(str(exc))
            error.display = True
            return
        except OSError as exc:
            error.update(f"cannot write {target}: {exc.strerror or exc}")
            error.display = True
            return
        error.display = False
        self.notify(f"Saved {target}", timeout=3)

    @on(Button.Pressed, "#copy-command")
    def action_copy_command(self) -> None:
        """Copy the `advisor auto` command to the clipboard."""
        self._copy(self.command, "command")

    @on(Button.Pressed, "#copy-python")
    def action_copy_python(self) -> None:
        """Copy the Python snippet to the clipboard."""
        self._copy(self.snippet, "Python snippet")

    def _copy(self, text: str, what: str) -> None:
        self.app.copy_to_clipboard(text)
        shown = self.query_one("#command-text", TextArea)
        shown.load_text(text)
        self.notify(f"Copied the {what} (shown below)", timeout=3)

    @on(Button.Pressed, "#run")
    def action_run(self) -> None:
        """Ask the app to run the search on the questionnaire's dataset."""
        if self.data is None:
            self.notify("Give a dataset path in the questionnaire to run the search", severity="warning")
            return
        self.post_message(self.RunRequested(self.recommendation, self.command, self.data, self.budget_minutes))

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        """Back to the questionnaire."""
        self.app.pop_screen()
