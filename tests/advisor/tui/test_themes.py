"""Both themes stay readable: key text has at least WCAG AA contrast (4.5:1) on its background."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from textual.color import Color
from textual.widget import Widget

from advisor import DatasetProfile
from advisor.tui.app import DARK_THEME, LIGHT_THEME, AdvisorApp

pytestmark = pytest.mark.anyio

PROFILE = DatasetProfile(modality="image", n_examples=2000, n_classes=2, similarity="similar")
RECOMMENDATION_TEXT = (".rung.-current", ".rung", "#headline", ".warning", ".section-title", "#expectation")


def _luminance(color: Color) -> float:
    def channel(value: int) -> float:
        v = value / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)


def contrast(widget: Widget) -> float:
    """WCAG contrast ratio of the widget's text colour (composited on its background) to that background."""
    _, _, background, color = widget.colors
    lighter, darker = sorted((_luminance(background), _luminance(background + color)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@pytest.mark.parametrize("theme", [DARK_THEME, LIGHT_THEME])
async def test_text_has_aa_contrast(ui: SimpleNamespace, theme: str) -> None:
    app = AdvisorApp(PROFILE, cursor_blink=False)
    async with app.run_test(size=ui.size) as pilot:
        app.theme = theme
        await pilot.pause()
        ratios = {selector: contrast(app.screen.query(selector).first()) for selector in RECOMMENDATION_TEXT}
        await pilot.press("escape")
        await ui.type_into(pilot, "#examples", "-1")
        await pilot.press("enter")
        await pilot.pause()
        ratios["error"] = contrast(app.screen.query_one("#examples-error"))
        assert {s: r for s, r in ratios.items() if r < 4.5} == {}


async def test_ctrl_t_toggles_the_theme(ui: SimpleNamespace) -> None:
    async with AdvisorApp(PROFILE, cursor_blink=False).run_test(size=ui.size) as pilot:
        assert pilot.app.theme == DARK_THEME
        await pilot.press("ctrl+t")
        assert pilot.app.theme == LIGHT_THEME
        await pilot.press("ctrl+t")
        assert pilot.app.theme == DARK_THEME
