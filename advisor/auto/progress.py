"""Live progress of a search on the terminal: one line per trial, a status line per epoch."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.text import Text

from advisor.auto.space import TrialPlan, describe

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

    def _time_left(self) -> str:
        left = max(0, int(self.deadline - self.clock()))
        return f"{left // 60}:{left % 60:02d} left"

    def trial_started(self, number: int, plan: TrialPlan) -> None:
        self.console.print(f"[bold]trial {number}[/] {describe(plan, self.n_blocks)}", highlight=False)
        if self.console.is_terminal:
            self._status = self.console.status(f"trial {number}: starting")
            self._status.start()

    def epoch(self, number: int, metrics: Any) -> None:
        if self._status is not None:
            self._status.update(
                f"trial {number} stage {metrics.stage + 1} epoch {metrics.epoch + 1}: val acc "
                f"{metrics.val_accuracy:.3f}, loss {metrics.val_loss:.3f} ({metrics.seconds:.1f}s) · {self._time_left()}"
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
