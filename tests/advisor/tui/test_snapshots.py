"""Pinned looks: one snapshot per screen at 110×40, cursor blink off (SVGs under `__snapshots__/`)."""

from __future__ import annotations

from textual.pilot import Pilot

from advisor import DatasetProfile
from advisor.tui.app import AdvisorApp

SIZE = (110, 40)


def test_questionnaire_screen(snap_compare) -> None:  # noqa: ANN001 - pytest-textual-snapshot fixture
    """Counts typed in, one class too few: the message shows under the classes field."""

    async def fill(pilot: Pilot) -> None:  # type: ignore[type-arg]
        pilot.app.screen.query_one("#examples").focus()
        await pilot.press(*"1200", "tab", "1", "ctrl+n")
        await pilot.pause()

    assert snap_compare(AdvisorApp(cursor_blink=False), terminal_size=SIZE, run_before=fill)


def test_recommendation_screen(snap_compare) -> None:  # noqa: ANN001 - pytest-textual-snapshot fixture
    """Rung 2 lit, two-stage schedule, the augmentation warning, the rules that fired."""
    profile = DatasetProfile(modality="image", n_examples=2000, n_classes=2, similarity="similar")
    assert snap_compare(AdvisorApp(profile, cursor_blink=False), terminal_size=SIZE)


def test_search_screen(snap_compare, monkeypatch, tmp_path) -> None:  # noqa: ANN001 - pytest fixtures
    """Two trials played in by hand (no training): table, best-so-far chart, a diagnosis, the summary."""
    from types import SimpleNamespace

    from advisor.auto.config import TuneConfig
    from advisor.auto.space import TrialPlan
    from advisor.tui.search_view import SearchScreen

    monkeypatch.setattr(SearchScreen, "run_search", lambda self: None)
    data = tmp_path / "data"
    for name in ("a", "b"):
        (data / name).mkdir(parents=True)
    config = TuneConfig(data=data, out=tmp_path / "out", budget_minutes=30)

    async def play(pilot: Pilot) -> None:  # type: ignore[type-arg]
        await pilot.app.push_screen(SearchScreen(config))
        await pilot.pause()
        screen = pilot.app.screen
        screen.started -= 10**7  # freeze "time left" at 0:00 for a stable picture
        head = TrialPlan(trainable_blocks=0, head_c=0.1)
        tuned = TrialPlan(
            trainable_blocks=2,
            head_c=1.0,
            lr_head=1e-3,
            lr_backbone=1e-4,
            layer_decay=0.8,
            tune_epochs=2,
            weight_decay=1e-4,
        )
        screen.trial_started(0, head)
        screen.epoch(0, SimpleNamespace(stage=0, epoch=0, val_accuracy=0.81))
        screen.trial_finished(0, "complete", 0.83, [])
        screen.trial_started(1, tuned)
        screen.epoch(1, SimpleNamespace(stage=1, epoch=1, val_accuracy=0.62))
        screen.trial_finished(
            1, "pruned", None, ["Accuracy fell after layers were unfrozen with fewer than 10 head-only epochs first."]
        )
        await pilot.pause()

    assert snap_compare(AdvisorApp(cursor_blink=False), terminal_size=SIZE, run_before=play)
