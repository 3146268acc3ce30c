"""Live progress of a search on the terminal: a status line with an estimate for each long step
outside the trials (reading the data, frozen passes, scoring the test split), one line per trial,
a status line per epoch with the trial's time still to run."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.text import Text

from advisor.auto.space import TrialPlan, describe


def seconds_left(elapsed: float, done: int, total: int) -> float | None:
    """What the rest of a step should take at the pace so far; None before anything is done."""
    if done <= 0 or total <= 0:
        return None
    return elapsed / done * max(total - done, 0)


def _clock_text(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class StepProgress:
    """`(stage, done, total)` calls as a status line with an estimate; a line when each stage ends.

    A stage ends when it reports done == total, or when another stage starts, or at `close`. Off a
    terminal (a log, CI) only the lines for ended stages are printed.
    """

    def __init__(self, console: Console, clock: Any = time.monotonic) -> None:
        self.console = console
        self.clock = clock
        self.stage: str | None = None
        self.started = 0.0
        self.done = self.total = 0
        self._status: Any = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.close()
            self.stage, self.started = stage, self.clock()
            if self.console.is_terminal:
                self._status = self.console.status(stage)
                self._status.start()
        self.done, self.total = done, total
        if total and done >= total:
            self.close()
        elif self._status is not None:
            elapsed = self.clock() - self.started
            left = seconds_left(elapsed, done, total)
            estimate = f", about {_clock_text(left)} left" if left is not None and done < total else ""
            self._status.update(f"{stage}: {done}/{total} · {_clock_text(elapsed)}{estimate}")

    def close(self) -> None:
        if self.stage is None:
            return
        if self._status is not None:
            self._status.stop()
            self._status = None
        took = self.clock() - self.started
        self.console.print(f"[green]✓[/] {self.stage}: {self.done}/{self.total} in {took:.0f} s", highlight=False)
        self.stage = None


_STATE_STYLE = {"complete": "green", "pruned": "yellow", "failed": "red", "diverged": "red", "stopped": "cyan"}


class TerminalProgress:
    """Prints trial outcomes with the running tally, best so far and time left."""

    def __init__(
        self,
        console: Console,
        n_blocks: int,
        deadline: float,
        notes: list[str] | None = None,
        clock: Any = time.monotonic,
    ) -> None:
        self.console = console
        for note in notes or []:
            console.print(Text.assemble(("ℹ ", "cyan"), note))  # Text: a note's brackets are not markup
        self.n_blocks = n_blocks
        self.deadline = deadline
        self.clock = clock
        self.counts = {"complete": 0, "pruned": 0, "failed": 0}
        self.best: tuple[float, int] | None = None
        self._status: Any = None
        self._plan_epochs = 0
        self._epoch_seconds: list[float] = []

    def _time_left(self) -> str:
        left = max(0, int(self.deadline - self.clock()))
        return f"{left // 60}:{left % 60:02d} left"

    def trial_started(self, number: int, plan: TrialPlan) -> None:
        self._plan_epochs, self._epoch_seconds = plan.total_epochs, []
        self.console.print(f"[bold]trial {number}[/] {describe(plan, self.n_blocks)}", highlight=False)
        if self.console.is_terminal:
            self._status = self.console.status(f"trial {number}: starting")
            self._status.start()

    def epoch(self, number: int, metrics: Any) -> None:
        self._epoch_seconds.append(metrics.seconds)
        if self._status is not None:
            done = len(self._epoch_seconds)
            # At most: pruning, early stopping or a stage that adds under 1% end a trial sooner.
            left = seconds_left(sum(self._epoch_seconds), done, max(self._plan_epochs, done))
            rest = f", at most ~{_clock_text(left)} more" if left else ""
            self._status.update(
                f"trial {number} stage {metrics.stage + 1} epoch {metrics.epoch + 1} ({done}/{self._plan_epochs}"
                f"{rest}): val acc {metrics.val_accuracy:.3f}, loss {metrics.val_loss:.3f} ({metrics.seconds:.1f}s)"
                f" · {self._time_left()}"
            )

    def trial_finished(self, number: int, state: str, value: float | None, notes: list[str]) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        self.counts["complete" if state in ("complete", "stopped", "diverged") else state] += 1
        if value is not None and (self.best is None or value > self.best[0]):
            self.best = (value, number)
        best = f"best {self.best[0]:.4f} (trial {self.best[1]})" if self.best else "no best yet"
        tally = ", ".join(f"{n} {k}" for k, n in self.counts.items())
        shown = f"{value:.4f}" if value is not None else "—"
        style = _STATE_STYLE.get(state, "white")
        self.console.print(
            f"  [{style}]{state}[/] val acc {shown} · {best} · {tally} · {self._time_left()}", highlight=False
        )
        for note in notes:
            self.console.print(f"  [dim]↳ {note}[/]", highlight=False)


class SilentProgress:
    """Events sink that ignores everything (API use without a terminal)."""

    def trial_started(self, number: int, plan: TrialPlan) -> None:
        return None

    def epoch(self, number: int, metrics: Any) -> None:
        return None

    def trial_finished(self, number: int, state: str, value: float | None, notes: list[str]) -> None:
        return None
