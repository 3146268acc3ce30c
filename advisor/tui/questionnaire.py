"""`QuestionnaireScreen`: the seed's decision tree as a short form — data, domain, hardware, budget, priority."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, LoadingIndicator, RadioButton, RadioSet, Select

from advisor.profile import DatasetProfile
from advisor.tui.choice_widgets import ChoiceSet, LevelButton
from advisor.tui.choices import HARDWARE, MODALITIES, PRIORITIES, PRIORITY_LABELS, SIMILARITY_CHOICES, TASKS
from advisor.tui.dataset_reader import read_dataset
from advisor.tui.form import FIELD_INPUTS, FormErrors, parse_budget, profile_from_form

# (profile field, label, placeholder) of the typed-in counts, in tab order.
COUNT_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("n_examples", "Labelled examples", "e.g. 1200"),
    ("n_classes", "Classes", "e.g. 4"),
    ("examples_per_class", "Per class (optional)", "total ÷ classes"),
    ("smallest_class", "Smallest class (optional)", "for imbalance"),
    ("largest_class", "Largest class (optional)", "for imbalance"),
)
RADIO_CHOICES = ("modality", "similarity", "hardware", "priority")
DEFAULT_BUDGET_MINUTES = 30


def _radio_set(name: str, options: dict[str, str], selected: str) -> RadioSet:
    buttons = [
        RadioButton(label, value=value == selected, name=value, id=f"{name}-{value}")
        for value, label in options.items()
    ]
    return ChoiceSet(*buttons, id=name)


class QuestionnaireScreen(Screen[None]):
    """Asks the decision tree's questions; posts `Submitted` with a valid profile."""

    CSS_PATH = "questionnaire.tcss"
    reading: reactive[bool] = reactive(False)
    BINDINGS = [
        Binding("ctrl+n", "submit", "Recommend"),
        Binding("ctrl+o", "read_dataset", "Read dataset"),
        Binding("ctrl+y", "measure_dataset", "Measure similarity"),
    ]

    class Submitted(Message):
        """The answers make a valid profile."""

        def __init__(self, profile: DatasetProfile, budget_minutes: float, data: Path | None) -> None:
            super().__init__()
            self.profile = profile
            self.budget_minutes = budget_minutes
            self.data = data

    def compose(self) -> ComposeResult:
        """The form: your data on the left, domain and constraints on the right."""
        yield Header()
        with VerticalScroll(id="form"), Horizontal(id="columns"):
            with Vertical(id="data-column", classes="column"):
                yield Label("Your data", classes="section-title")
                yield Label("Modality")
                yield _radio_set("modality", {m: m.capitalize() for m in MODALITIES}, "image")
                yield Label("Task")
                yield Select(
                    [(t.replace("_", " "), t) for t in TASKS], value="classification", allow_blank=False, id="task"
                )
                yield Label("Dataset path (optional) — Read fills the counts; Measure also the similarity")
                with Horizontal(id="path-row"):
                    yield Input(placeholder="class folders, .csv or .jsonl", id="path")
                    yield Button("Read", id="read-path")
                    yield Button("Measure", id="measure-path", tooltip="Also measure similarity with the backbone")
                yield LoadingIndicator(id="profiling")
                yield Label("", id="path-error", classes="error")
                with Grid(id="counts"):
                    for field, label, placeholder in COUNT_FIELDS:
                        input_id = FIELD_INPUTS[field]
                        with Vertical(classes="field"):
                            yield Label(label)
                            yield Input(placeholder=placeholder, id=input_id, classes="count")
                            yield Label("", id=f"{input_id}-error", classes="error")
            with Vertical(id="domain-column", classes="column"):
                yield Label("How close is your data to the pretraining data?", classes="section-title")
                yield ChoiceSet(
                    *(
                        LevelButton(label, examples, value=level == "similar", name=level, id=f"similarity-{level}")
                        for level, (label, examples) in SIMILARITY_CHOICES.items()
                    ),
                    id="similarity",
                )
                yield Label("", id="similarity-evidence")
                yield Label("Hardware")
                yield _radio_set("hardware", {h: h.upper() for h in HARDWARE}, "cpu")
                yield Label("Time budget for the search (minutes)")
                yield Input(str(DEFAULT_BUDGET_MINUTES), id="budget")
                yield Label("", id="budget-error", classes="error")
                yield Label("Priority")
                yield _radio_set("priority", {p: PRIORITY_LABELS[p] for p in PRIORITIES}, "balanced")
                yield Button("Recommend", id="submit", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        """Title, blink setting, first focus."""
        self.title = "advisor"
        self.sub_title = "transfer-learning questionnaire"
        blink = getattr(self.app, "cursor_blink", True)
        for widget in self.query(Input):
            widget.cursor_blink = blink
        for error in self.query(".error"):
            error.display = False
        self.query_one("#examples", Input).focus()

    # --- reading a dataset --------------------------------------------------------------------

    @on(Button.Pressed, "#read-path")
    @on(Input.Submitted, "#path")
    def action_read_dataset(self) -> None:
        """Count the dataset at the path and fill the counts in."""
        self._read_path(measure=False)

    @on(Button.Pressed, "#measure-path")
    def action_measure_dataset(self) -> None:
        """Count the dataset and measure its similarity to the backbone's pretraining data."""
        self._read_path(measure=True)

    def _read_path(self, measure: bool) -> None:
        path = self.query_one("#path", Input).value.strip()
        if not path:
            self._show_errors({"path": "enter a folder or a .csv/.jsonl file"})
            return
        self.profile_path(path, measure)

    @work(exclusive=True, group="dataset")
    async def profile_path(self, path: str, measure: bool = False) -> None:
        """Profile the dataset off the event loop, with the loading indicator showing."""
        self.reading = True
        self._show_error("path", "")
        try:
            found = await asyncio.to_thread(read_dataset, path, measure)
        except (ValueError, OSError) as exc:  # OSError: an unreadable folder or file
            self._show_error("path", str(exc))
        else:
            self._fill(found)
        finally:
            self.reading = False

    def watch_reading(self, reading: bool) -> None:
        """Show the loading indicator while a dataset is being read."""
        self.query_one("#profiling").display = reading

    def _fill(self, found: dict[str, object]) -> None:
        for field in ("n_examples", "n_classes", "smallest_class", "largest_class"):
            value = found.get(field)
            self.query_one(f"#{FIELD_INPUTS[field]}", Input).value = "" if value is None else str(value)
        self.query_one("#per-class", Input).value = ""
        modality = found.get("modality")
        for button in self.query_one("#modality", RadioSet).query(RadioButton):
            if button.name == modality:
                button.value = True
        similarity = found.get("similarity")
        if similarity is not None:
            self.query_one(f"#similarity-{similarity}", RadioButton).value = True
        self.query_one("#similarity-evidence", Label).update(str(found.get("similarity_reason", "")))
        self.notify(f"Read {found.get('n_examples')} examples in {found.get('n_classes')} classes", timeout=3)

    # --- submitting ---------------------------------------------------------------------------

    @on(Button.Pressed, "#submit")
    @on(Input.Submitted, ".count")
    @on(Input.Submitted, "#budget")
    def action_submit(self) -> None:
        """Validate every answer; show messages at the fields or post `Submitted`."""
        messages: dict[str, str] = {}
        profile = None
        try:
            profile = profile_from_form(self._counts(), self.choices())
        except FormErrors as exc:
            messages.update(exc.messages)
        budget = 0.0
        try:
            budget = parse_budget(self.query_one("#budget", Input).value)
        except ValueError as exc:
            messages["budget"] = str(exc)
        path_text = self.query_one("#path", Input).value.strip()
        data = Path(path_text).expanduser() if path_text else None
        if data is not None and not data.exists():
            messages["path"] = f"{data} does not exist"
        self._show_errors(messages)
        if messages:
            self._focus_first_invalid()
        elif profile is not None:
            self.post_message(self.Submitted(profile, budget, data))

    def _counts(self) -> dict[str, str]:
        return {field: self.query_one(f"#{FIELD_INPUTS[field]}", Input).value for field, _, _ in COUNT_FIELDS}

    def choices(self) -> dict[str, str]:
        """The chosen option of every radio set and of the task select."""
        chosen = {"task": str(self.query_one("#task", Select).value)}
        for name in RADIO_CHOICES:
            pressed = self.query_one(f"#{name}", RadioSet).pressed_button
            if pressed is not None and pressed.name:
                chosen[name] = pressed.name
        return chosen

    def _focus_first_invalid(self) -> None:
        invalid = self.query("Input.-invalid")
        if invalid:
            invalid.first().focus()

    def _show_errors(self, messages: dict[str, str]) -> None:
        for error in self.query(".error"):
            input_id = (error.id or "").removesuffix("-error")
            self._show_error(input_id, messages.get(input_id, ""))

    def _show_error(self, input_id: str, message: str) -> None:
        label = self.query_one(f"#{input_id}-error", Label)
        label.update(message)
        label.display = bool(message)
        field = self.query(f"#{input_id}")
        if field:
            field.first().set_class(bool(message), "-invalid")
