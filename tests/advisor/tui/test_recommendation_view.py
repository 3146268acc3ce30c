"""The recommendation view: what it shows, saving JSON, copying the command and snippet, Run, back."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.table import Table
from textual.widgets import DataTable, Input, Static, TextArea

from advisor import DatasetProfile, Recommendation, recommend
from advisor.tui.app import AdvisorApp
from advisor.tui.commands import auto_command, python_snippet
from advisor.tui.questionnaire import QuestionnaireScreen
from advisor.tui.recommendation_view import RecommendationScreen

pytestmark = pytest.mark.anyio

PARTIAL = DatasetProfile(modality="image", n_examples=2000, n_classes=2, similarity="similar")
FULL = DatasetProfile(modality="image", n_examples=120000, n_classes=2, similarity="different")


def app_for(profile: DatasetProfile, data: Path | None = None) -> AdvisorApp:
    return AdvisorApp(profile, budget_minutes=45, data=data, cursor_blink=False)


def texts(screen: RecommendationScreen, selector: str) -> list[str]:
    return [str(widget.content) for widget in screen.query(selector).results(Static)]


async def test_schedule_table_has_a_row_per_stage_with_its_rates(ui: SimpleNamespace) -> None:
    async with app_for(FULL).run_test(size=ui.size) as pilot:
        screen = pilot.app.screen
        assert isinstance(screen, RecommendationScreen)
        rec = screen.recommendation
        table = screen.query_one("#stages", DataTable)
        assert [str(c.label) for c in table.columns.values()] == [
            "stage",
            "trainable",
            "epochs",
            "LR head",
            "LR backbone",
            "layer-wise",
            "warmup",
            "weight decay",
        ]
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        assert len(rows) == len(rec.stages) == 3
        # full fine-tune, stage 3: all layers, 1e-4 at the top, ÷100 down to the bottom block
        assert rows[-1] == ["fine-tune all layers", "100%", "20", "1e-3", "1e-4 (1e-5–1e-4)", "÷100", "—", "—"]
        assert rows[0][4] == "frozen"


async def test_reasons_warnings_and_expectation_are_shown(ui: SimpleNamespace) -> None:
    async with app_for(PARTIAL).run_test(size=ui.size) as pilot:
        screen = pilot.app.screen
        rec = screen.recommendation
        rationale = screen.query_one("#rationale", Static).content
        assert isinstance(rationale, Table)
        cells = [str(cell) for column in rationale.columns for cell in column.cells]
        for fired in rec.rationale:
            assert fired.rule in cells and fired.reason in cells and fired.section in cells
        assert rec.warnings, "this profile should carry the small-data augmentation warning"
        assert [w.reason in t for w, t in zip(rec.warnings, texts(screen, ".warning"), strict=True)] == [True] * len(
            rec.warnings
        )
        expectation = texts(screen, "#expectation")[0]
        assert "Rung 2" in expectation and "85%–90%" in expectation and "about 30 minutes" in expectation
        backbone = texts(screen, "#backbone")[0]
        assert all(alt.name in backbone for alt in rec.backbone.alternatives)


async def test_save_writes_json_that_reads_back_equal(ui: SimpleNamespace, tmp_path: Path) -> None:
    target = tmp_path / "out" / "rec.json"
    async with app_for(PARTIAL).run_test(size=ui.size) as pilot:
        assert pilot.app.screen.query_one("#save-path", Input).value == "./recommendation.json"
        await ui.type_into(pilot, "#save-path", str(target))
        await pilot.press("ctrl+s")
        await pilot.pause()
        saved = Recommendation.model_validate_json(target.read_text())
        assert saved == pilot.app.screen.recommendation == recommend(PARTIAL)


async def test_save_to_an_unwritable_path_shows_a_message(ui: SimpleNamespace, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    async with app_for(PARTIAL).run_test(size=ui.size) as pilot:
        await ui.type_into(pilot, "#save-path", str(blocker / "rec.json"))
        await pilot.press("enter")
        await pilot.pause()
        error = pilot.app.screen.query_one("#save-error")
        assert error.display and str(error.content).startswith(f"cannot write {blocker / 'rec.json'}")
        assert not (blocker / "rec.json").exists()


async def test_copy_command_and_snippet(ui: SimpleNamespace, image_folder: Path) -> None:
    async with app_for(PARTIAL, data=image_folder).run_test(size=ui.size) as pilot:
        shown = pilot.app.screen.query_one("#command-text", TextArea)
        command = auto_command(PARTIAL, image_folder, 45)
        assert command == f"advisor auto {image_folder} --out runs/advisor --budget-minutes 45 --similarity similar"
        assert shown.read_only and shown.text.startswith(command)
        await pilot.click("#copy-python")
        await pilot.pause()
        assert pilot.app.clipboard == shown.text == python_snippet(PARTIAL)
        pilot.app.screen.query_one("#report").focus()
        await pilot.press("c")
        await pilot.pause()
        assert pilot.app.clipboard == shown.text == command


async def test_run_with_advisor_auto_posts_a_run_request(
    ui: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, image_folder: Path
) -> None:
    from advisor.tui.search_view import SearchScreen

    monkeypatch.setattr(SearchScreen, "run_search", lambda self: None)  # the search itself: test_search_view.py
    requests: list[RecommendationScreen.RunRequested] = []
    app = app_for(PARTIAL, data=image_folder)
    async with app.run_test(size=ui.size, message_hook=lambda m: requests.append(m)) as pilot:
        await pilot.click("#run")
        await pilot.pause()
        # the hook sees the one message at the screen and again as it bubbles to the app
        runs = list({id(m): m for m in requests if isinstance(m, RecommendationScreen.RunRequested)}.values())
        assert len(runs) == 1
        assert (runs[0].data, runs[0].budget_minutes) == (image_folder, 45)
        assert runs[0].command == auto_command(PARTIAL, image_folder, 45)
        assert isinstance(app.screen, SearchScreen)
        assert (app.screen.config.data, app.screen.config.budget_minutes) == (image_folder, 45)
        assert app.screen.config.similarity == PARTIAL.similarity


async def test_escape_goes_back_to_the_questionnaire(ui: SimpleNamespace) -> None:
    async with app_for(PARTIAL).run_test(size=ui.size) as pilot:
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, QuestionnaireScreen)


async def test_broken_rules_directory_keeps_the_form_and_says_why(ui: SimpleNamespace, rules_copy: Path) -> None:
    (rules_copy / "ladder.yaml").write_text("rungs: []\n")
    app = AdvisorApp(PARTIAL, rules=rules_copy, cursor_blink=False)
    async with app.run_test(size=ui.size) as pilot:
        assert isinstance(pilot.app.screen, QuestionnaireScreen)
        assert [n.severity for n in app._notifications] == ["error"]
        assert "ladder.yaml" in next(iter(app._notifications)).message


async def test_the_ladder_comes_from_the_rules_that_made_the_answer(ui: SimpleNamespace, rules_copy: Path) -> None:
    ladder = rules_copy / "ladder.yaml"
    ladder.write_text(ladder.read_text().replace('"about 30 minutes of training"', '"one long coffee"'))
    async with AdvisorApp(PARTIAL, rules=rules_copy, cursor_blink=False).run_test(size=ui.size) as pilot:
        screen = pilot.app.screen
        assert screen.recommendation.time_estimate == "one long coffee"
        assert "one long coffee" in str(screen.query_one("#rung-2", Static).content)
