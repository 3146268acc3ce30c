"""The live search screen: runs `advisor auto` in a worker thread and shows trials as they finish.

The search reports through `advisor.auto.objective.SearchEvents`; `ScreenEvents` forwards each
event to the UI thread with `call_from_thread`, so the UI never blocks on training.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Label, ProgressBar, RichLog, Sparkline, Static

from advisor.auto.config import TuneConfig
from advisor.auto.space import TrialPlan


class SearchCancelled(KeyboardInterrupt):
    """Raised in the training thread at the next epoch after Cancel; the search treats it as Ctrl-C."""


class ScreenEvents:
    """SearchEvents that hop from the training thread to the UI thread."""

    def __init__(self, screen: SearchScreen) -> None:
        self.screen = screen

    def trial_started(self, number: int, plan: TrialPlan) -> None:
        self.screen.app.call_from_thread(self.screen.trial_started, number, plan)

    def epoch(self, number: int, metrics: Any) -> None:
        self.screen.app.call_from_thread(self.screen.epoch, number, metrics)
        if self.screen.cancel_requested.is_set():
            raise SearchCancelled("cancelled from the TUI")

    def trial_finished(self, number: int, state: str, value: float | None, notes: list[str]) -> None:
        self.screen.app.call_from_thread(self.screen.trial_finished, number, state, value, notes)

    def step(self, stage: str, done: int, total: int) -> None:
        """A long step outside the trials (reading the data, a frozen pass, scoring the test split)."""
        self.screen.app.call_from_thread(self.screen.step, stage, done, total)


class SearchScreen(Screen[None]):
    """Trials table, best-so-far chart, current trial progress, diagnoses, and the final summary."""

    CSS_PATH = "search.tcss"
    BINDINGS = [Binding("ctrl+c,escape", "cancel", "Cancel search", priority=True)]

    def __init__(self, config: TuneConfig) -> None:
        super().__init__()
        self.config = config
        self.cancel_requested = threading.Event()
        self.best_history: list[float] = []
        self.counts = {"complete": 0, "pruned": 0, "failed": 0}
        self.started = time.monotonic()
        self.report: Any = None
        self._epochs_seen: dict[int, int] = {}
        self._step: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="search-body"):
            yield Static(f"Searching {self.config.data} for {self.config.budget_minutes:g} min", id="search-status")
            with Horizontal(id="step-progress"):
                yield Label("set-up", id="step-label", classes="section-title")
                # A total from the start: an indeterminate bar animates, and the first step sets the real one.
                yield ProgressBar(total=1, show_eta=True, id="step-bar")
            with Horizontal(id="search-progress"):
                yield Label("current trial", classes="section-title")
                yield ProgressBar(total=1, show_eta=False, id="epoch-progress")
            yield Label("best validation accuracy so far", classes="section-title")
            yield Sparkline([], id="best-chart")
            table: DataTable[str] = DataTable(id="trials", cursor_type="row", zebra_stripes=True)
            table.add_columns("#", "state", "top blocks", "head C", "LR backbone", "val acc", "pruned at")
            yield table
            yield Label("diagnoses", classes="section-title")
            yield RichLog(id="diagnoses", wrap=True, markup=False, max_lines=200)
            yield Static("", id="search-summary")
            yield Button("Cancel", id="cancel", variant="error")
        yield Footer()

    def on_mount(self) -> None:
        """Start the search in a worker thread."""
        self.run_search()

    @work(thread=True, exclusive=True)
    def run_search(self) -> None:
        """The whole search, off the UI thread; the report arrives in `finished`."""
        from advisor.auto.search import run_search

        try:
            events = ScreenEvents(self)
            report = run_search(self.config, events=events, progress=events.step)
        except Exception as exc:  # noqa: BLE001 - any failure is shown on the screen, never a crash
            self.app.call_from_thread(self.failed, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self.finished, report)

    def _status(self, text: str) -> None:
        left = max(0, int(self.config.budget_minutes * 60 - (time.monotonic() - self.started)))
        tally = ", ".join(f"{n} {k}" for k, n in self.counts.items())
        best = f"best {max(self.best_history):.4f}" if self.best_history else "no best yet"
        self.query_one("#search-status", Static).update(
            f"{text} · {tally} · {best} · {left // 60}:{left % 60:02d} left"
        )

    def step(self, stage: str, done: int, total: int) -> None:
        bar = self.query_one("#step-bar", ProgressBar)
        if stage != self._step:
            self._step = stage
            self.query_one("#step-label", Label).update(stage)
            bar.update(total=total, progress=0)  # a new step: its estimate starts afresh
        bar.update(total=total, progress=done)
        self._status(f"{stage}: {done}/{total}")

    def trial_started(self, number: int, plan: TrialPlan) -> None:
        self._epochs_seen[number] = 0
        self.query_one("#epoch-progress", ProgressBar).update(total=plan.total_epochs, progress=0)
        lr_backbone = f"{plan.lr_backbone:.1e}" if plan.lr_backbone else "frozen"
        self.query_one("#trials", DataTable).add_row(
            str(number),
            "running",
            str(plan.trainable_blocks),
            f"{plan.head_c:.2g}",
            lr_backbone,
            "",
            "",
            key=str(number),
        )
        self._status(f"trial {number} running")

    def epoch(self, number: int, metrics: Any) -> None:
        self._epochs_seen[number] = self._epochs_seen.get(number, 0) + 1
        self.query_one("#epoch-progress", ProgressBar).advance(1)
        self._status(
            f"trial {number}, stage {metrics.stage + 1}, epoch {metrics.epoch + 1}: val acc {metrics.val_accuracy:.3f}"
        )

    def trial_finished(self, number: int, state: str, value: float | None, notes: list[str]) -> None:
        table = self.query_one("#trials", DataTable)
        self.counts["complete" if state in ("complete", "stopped", "diverged") else state] += 1
        table.update_cell(str(number), table.ordered_columns[1].key, state)
        table.update_cell(str(number), table.ordered_columns[5].key, f"{value:.4f}" if value is not None else "—")
        if state == "pruned":
            table.update_cell(str(number), table.ordered_columns[6].key, f"epoch {self._epochs_seen.get(number, 0)}")
        if value is not None:
            self.best_history.append(max([value, *self.best_history]))
            self.query_one("#best-chart", Sparkline).data = list(self.best_history)
        log = self.query_one("#diagnoses", RichLog)
        for note in notes:
            log.write(f"trial {number}: {note}")
        self._status(f"trial {number} {state}")

    def finished(self, report: Any) -> None:
        self.report = report
        lines = []
        if report.best is None:
            lines.append("No trial finished within the budget: follow the rule plan.")
        else:
            lines.append(f"Best trial {report.best.number}: val accuracy {report.best.value:.4f}")
            if report.test_accuracy is not None:
                lines.append(f"exported model, held-out test accuracy {report.test_accuracy:.4f}")
            if report.improvement_over_baseline is not None:
                lines.append(f"improvement over the rule plan {report.improvement_over_baseline:+.4f}")
        if report.promise is not None:
            lines.append(report.promise.verdict)
        lines.append(f"model: {report.model_dir or '—'}   report: {self.config.out / 'report.html'}")
        if report.interrupted:
            lines.append("Cancelled: the study is kept; run again to resume.")
        self.query_one("#search-summary", Static).update("\n".join(lines))
        self.query_one("#cancel", Button).label = "Close"
        self._status("cancelled" if report.interrupted else "finished")

    def failed(self, message: str) -> None:
        self.query_one("#search-summary", Static).update(f"The search stopped: {message}")
        self.query_one("#cancel", Button).label = "Close"

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Stop the search after the current epoch (the study is kept), or close when it is over."""
        if self.report is not None or str(self.query_one("#cancel", Button).label) == "Close":
            self.app.pop_screen()
            return
        self.cancel_requested.set()
        self._status("cancelling after this epoch")
