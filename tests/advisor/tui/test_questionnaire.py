"""Driving the questionnaire with Pilot: answers → recommendation, inline validation, reading a dataset."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Label, Static

from advisor.tui.app import AdvisorApp
from advisor.tui.ladder import LadderWidget
from advisor.tui.questionnaire import QuestionnaireScreen
from advisor.tui.recommendation_view import RecommendationScreen

pytestmark = pytest.mark.anyio


def error_at(app: AdvisorApp, input_id: str) -> str:
    """The message shown under the input, or '' when its error label is hidden."""
    label = app.screen.query_one(f"#{input_id}-error", Label)
    return str(label.content) if label.display else ""


async def submit(pilot: Pilot) -> None:  # type: ignore[type-arg]
    await pilot.press("ctrl+n")
    await pilot.pause()


@pytest.mark.parametrize(
    ("examples", "classes", "similarity", "strategy", "rung"),
    [
        ("1200", "4", "similar", "feature_extraction", 1),
        ("2000", "2", "similar", "partial_fine_tune", 2),
        ("120000", "2", "different", "full_fine_tune", 4),
    ],
)
async def test_answers_lead_to_the_engines_recommendation(
    ui: SimpleNamespace, examples: str, classes: str, similarity: str, strategy: str, rung: int
) -> None:
    app = AdvisorApp(cursor_blink=False)
    async with app.run_test(size=ui.size) as pilot:
        await ui.type_into(pilot, "#examples", examples)
        await ui.type_into(pilot, "#classes", classes)
        await ui.choose(pilot, "similarity", similarity)
        await pilot.click("#submit")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RecommendationScreen)
        rec = screen.recommendation
        assert (rec.strategy, rec.rung, rec.backbone.name) == (strategy, rung, "ResNet-50")
        assert (rec.profile.n_examples, rec.profile.similarity) == (int(examples), similarity)
        assert screen.query_one(LadderWidget).rung == rung
        assert screen.query_one(f"#rung-{rung}").has_class("-current")
        assert [w.id for w in screen.query(".rung.-current")] == [f"rung-{rung}"]
        assert "ResNet-50" in str(screen.query_one("#backbone", Static).content)


async def test_keyboard_only_walk_through(ui: SimpleNamespace) -> None:
    """Focus starts on the examples; tab order runs through the counts into the similarity levels."""
    app = AdvisorApp(cursor_blink=False)
    async with app.run_test(size=ui.size) as pilot:
        assert app.focused is app.screen.query_one("#examples")
        await pilot.press(*"2000", "tab", *"2")
        await pilot.press("tab", "tab", "tab", "tab")
        assert app.focused is not None and app.focused.id == "similarity"
        await pilot.press("up", "enter")  # from "similar" up to "very similar"
        await pilot.press("tab", "tab", "tab")  # hardware, budget, priority
        assert app.focused is not None and app.focused.id == "priority"
        await pilot.press("down", "enter")  # speed
        await submit(pilot)
        rec = app.screen.recommendation
        assert (rec.profile.similarity, rec.profile.priority, rec.strategy) == (
            "very_similar",
            "speed",
            "feature_extraction",
        )
        await pilot.press("escape")
        assert isinstance(app.screen, QuestionnaireScreen)
        assert app.screen.query_one("#examples", Input).value == "2000"


@pytest.mark.parametrize(
    ("typed", "input_id", "message"),
    [
        ({"#examples": "-5", "#classes": "4"}, "examples", "greater than 0"),
        ({"#examples": "lots", "#classes": "4"}, "examples", "whole number"),
        ({"#examples": "100", "#classes": "1"}, "classes", "at least 2 classes"),
        ({"#examples": "100", "#classes": "4", "#per-class": "3"}, "per-class", "does not match"),
        ({"#examples": "100", "#classes": "4", "#budget": "0"}, "budget", "positive number of minutes"),
        ({"#examples": "100", "#classes": "4", "#path": "/no/such/folder"}, "path", "does not exist"),
    ],
)
async def test_bad_answers_show_a_message_at_the_field(
    ui: SimpleNamespace, typed: dict[str, str], input_id: str, message: str
) -> None:
    app = AdvisorApp(cursor_blink=False)
    async with app.run_test(size=ui.size) as pilot:
        for selector, text in typed.items():
            await ui.type_into(pilot, selector, text)
        await submit(pilot)
        assert isinstance(app.screen, QuestionnaireScreen)
        assert message in error_at(app, input_id)
        assert app.screen.query_one(f"#{input_id}", Input).has_class("-invalid")
        assert app.focused is not None and app.focused.id == input_id
        others = {i for i in ("examples", "classes", "per-class", "budget", "path") if i != input_id}
        assert all(error_at(app, other) == "" for other in others)


async def test_fixing_a_field_clears_its_message(ui: SimpleNamespace) -> None:
    app = AdvisorApp(cursor_blink=False)
    async with app.run_test(size=ui.size) as pilot:
        await ui.type_into(pilot, "#examples", "0")
        await ui.type_into(pilot, "#classes", "4")
        await submit(pilot)
        assert error_at(app, "examples")
        await ui.type_into(pilot, "#examples", "400")
        await submit(pilot)
        assert isinstance(app.screen, RecommendationScreen)


async def read_path(ui: SimpleNamespace, pilot: Pilot, path: Path | str) -> None:  # type: ignore[type-arg]
    await ui.type_into(pilot, "#path", str(path))
    await pilot.press("enter")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_reading_an_image_folder_fills_the_counts(ui: SimpleNamespace, image_folder: Path) -> None:
    app = AdvisorApp(cursor_blink=False)
    async with app.run_test(size=ui.size) as pilot:
        await read_path(ui, pilot, image_folder)
        values = {i: app.screen.query_one(f"#{i}", Input).value for i in ("examples", "classes", "smallest", "largest")}
        assert values == {"examples": "8", "classes": "2", "smallest": "3", "largest": "5"}
        assert error_at(app, "path") == ""
        assert not app.screen.query_one("#profiling").display
        await submit(pilot)
        rec = app.screen.recommendation
        assert (rec.profile.n_examples, rec.profile.smallest_class, rec.profile.largest_class) == (8, 3, 5)
        assert str(image_folder) in app.screen.command


async def test_reading_a_csv_switches_to_text(ui: SimpleNamespace, tmp_path: Path) -> None:
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\n" + "".join(f"t{i},{'pos' if i % 3 else 'neg'}\n" for i in range(30)))
    app = AdvisorApp(cursor_blink=False)
    async with app.run_test(size=ui.size) as pilot:
        await read_path(ui, pilot, data)
        assert app.screen.choices()["modality"] == "text"
        assert app.screen.query_one("#examples", Input).value == "30"


async def test_reading_a_bad_path_shows_a_message(
    ui: SimpleNamespace, tmp_path: Path, folder_factory: Callable[[Path, dict[str, int]], Path]
) -> None:
    one_class = folder_factory(tmp_path / "one", {"cat": 3})
    app = AdvisorApp(cursor_blink=False)
    async with app.run_test(size=ui.size) as pilot:
        await read_path(ui, pilot, tmp_path / "nope")
        assert "does not exist" in error_at(app, "path")
        await read_path(ui, pilot, one_class)
        assert "at least 2 class folders" in error_at(app, "path")
        assert app.screen.query_one("#examples", Input).value == ""


async def test_the_profiler_runs_in_a_worker_behind_a_loading_indicator(
    ui: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, image_folder: Path
) -> None:
    """Reading and measuring run off the event loop, with progress shown; measuring sets the similarity."""
    release = threading.Event()
    calls: list[tuple[str, bool]] = []

    def read_dataset(path: str, measure: bool = False) -> dict[str, object]:
        calls.append((path, measure))
        release.wait(timeout=10)
        found: dict[str, object] = {
            "modality": "text",
            "n_examples": 900,
            "n_classes": 3,
            "smallest_class": 100,
            "largest_class": 500,
        }
        if measure:
            found.update(similarity="different", similarity_reason="Measured on 256 examples: drift 1.2")
        return found

    monkeypatch.setattr("advisor.tui.questionnaire.read_dataset", read_dataset)
    app = AdvisorApp(cursor_blink=False)
    async with app.run_test(size=ui.size) as pilot:
        await ui.type_into(pilot, "#path", str(image_folder))
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert app.screen.query_one("#profiling").display
        release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.screen.query_one("#profiling").display
        assert calls == [(str(image_folder), False)]
        assert app.screen.choices()["modality"] == "text"
        assert app.screen.choices()["similarity"] == "similar"
        values = {i: app.screen.query_one(f"#{i}", Input).value for i in ("examples", "classes", "smallest", "largest")}
        assert values == {"examples": "900", "classes": "3", "smallest": "100", "largest": "500"}
        await pilot.press("ctrl+y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert calls[-1] == (str(image_folder), True)
        assert app.screen.choices()["similarity"] == "different"
        assert "drift 1.2" in str(app.screen.query_one("#similarity-evidence", Label).render())
