"""`LadderWidget`: the tutorial's transfer-learning ladder, five rungs with the recommended one lit."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from advisor.engine.loader import load_rulebook
from advisor.engine.rulebook import Rung


def rung_text(rung: Rung, current: bool) -> str:
    """One rung's line: number, name, expected accuracy and time (marked when it is the recommended one)."""
    low, high = rung.expected_accuracy
    marker = "▶" if current else " "
    time = rung.time_estimate.removesuffix(" of training")
    return f"{marker} {rung.rung}  {rung.name:<24} {low:.0%}–{high:.0%}  {time}"


class LadderWidget(Widget):
    """The five rungs from `rules/ladder.yaml`, top rung last; `rung` picks the highlighted one."""

    rung: reactive[int] = reactive(1)

    def __init__(self, rung: int, rungs: tuple[Rung, ...] | None = None, **kwargs: object) -> None:
        """Show `rungs` (default: the packaged rule book's) with `rung` highlighted."""
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._rungs = rungs if rungs is not None else load_rulebook().ladder.rungs
        self.set_reactive(LadderWidget.rung, rung)

    def compose(self) -> ComposeResult:
        """One Static per rung, highest first, like a ladder."""
        for rung in sorted(self._rungs, key=lambda r: r.rung, reverse=True):
            yield Static(rung_text(rung, rung.rung == self.rung), id=f"rung-{rung.rung}", classes="rung")

    def on_mount(self) -> None:
        """Light the initial rung."""
        self.watch_rung(self.rung)

    def watch_rung(self, rung: int) -> None:
        """Move the highlight (and the ▶ marker) to `rung`."""
        for rung_def in self._rungs:
            static = self.query_one(f"#rung-{rung_def.rung}", Static)
            current = rung_def.rung == rung
            static.set_class(current, "-current")
            static.update(rung_text(rung_def, current))
