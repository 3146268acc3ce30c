"""The live search screen: Run starts a real (tiny) search in a worker; the table fills; Cancel keeps the study."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from textual.widgets import DataTable, Label, ProgressBar, Static

from advisor import DatasetProfile
from advisor.tui.app import AdvisorApp
from advisor.tui.search_view import SearchScreen

from .conftest import SIZE

pytestmark = pytest.mark.anyio
TINY = {"backbone": "resnet18", "weights": "none", "max_epochs_per_stage": 2, "batch_size": 16}


@pytest.fixture
def colours(tmp_path: Path) -> Path:
    root = tmp_path / "colours"
    rng = np.random.default_rng(0)
    for c in range(2):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(12):
            a = rng.integers(0, 80, (32, 32, 3), dtype=np.uint8)
            a[..., c] += 150
            Image.fromarray(a).save(root / f"c{c}" / f"{i}.png")
    return root


async def _wait_for_report(pilot, screen: SearchScreen, seconds: float = 240) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds * 10)):
        if screen.report is not None:
            return
        await pilot.pause(0.1)
    raise AssertionError("the search did not finish in time")


def _app(colours: Path, out: Path, trials: int) -> AdvisorApp:
    profile = DatasetProfile(modality="image", n_examples=24, n_classes=2, similarity="similar")
    return AdvisorApp(
        profile, data=colours, budget_minutes=5, cursor_blink=False, out=out, search_settings={**TINY, "trials": trials}
    )


async def test_run_shows_trials_and_the_report(colours: Path, tmp_path: Path) -> None:
    app = _app(colours, tmp_path / "run", trials=2)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+r")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        await _wait_for_report(pilot, screen)
        table = screen.query_one("#trials", DataTable)
        assert table.row_count == 2
        states = {str(table.get_row_at(i)[1]) for i in range(2)}
        assert states <= {"complete", "pruned"}
        summary = str(screen.query_one("#search-summary", Static).render())
        assert "Best trial" in summary and "report.html" in summary
        assert len(screen.best_history) >= 1
        # The last long step outside the trials, scoring the test split, ran to its end on the step bar.
        assert re.fullmatch(r"scoring .+ on the test split", str(screen.query_one("#step-label", Label).render()))
        bar = screen.query_one("#step-bar", ProgressBar)
        assert bar.total and bar.progress == bar.total
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["n_trials"] == 2 and report["baseline"]["rule_plan"]


async def test_cancel_stops_after_the_epoch_and_keeps_the_study(colours: Path, tmp_path: Path) -> None:
    app = _app(colours, tmp_path / "run", trials=5)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+r")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        await pilot.press("escape")
        await _wait_for_report(pilot, screen)
        assert screen.report.interrupted
        assert "Cancelled" in str(screen.query_one("#search-summary", Static).render())
    assert (tmp_path / "run" / "study.db").exists()
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["interrupted"] and report["n_trials"] < 5
