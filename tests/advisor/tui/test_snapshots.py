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
