"""`AdvisorApp`, the Textual app behind `advisor` with no arguments and `advisor tui`, and `run_tui()`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on
from textual.app import App
from textual.binding import Binding

from advisor.engine.loader import load_rulebook
from advisor.engine.recommend import recommend
from advisor.errors import RulesError
from advisor.profile import DatasetProfile
from advisor.tui.questionnaire import DEFAULT_BUDGET_MINUTES, QuestionnaireScreen
from advisor.tui.recommendation_view import RecommendationScreen

LIGHT_THEME = "textual-light"
DARK_THEME = "textual-dark"


class AdvisorApp(App[None]):
    """Questionnaire → recommendation → live search."""

    CSS_PATH = "app.tcss"
    TITLE = "advisor"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+t", "toggle_theme", "Light/dark"),
    ]

    def __init__(
        self,
        profile: DatasetProfile | None = None,
        *,
        budget_minutes: float = DEFAULT_BUDGET_MINUTES,
        data: Path | None = None,
        rules: Path | str | None = None,
        cursor_blink: bool = True,
        out: Path = Path("runs/advisor"),
        search_settings: dict[str, Any] | None = None,
    ) -> None:
        """Open on the questionnaire, or straight on the recommendation for `profile`.

        Args:
            profile: When given, the app opens on its recommendation (escape goes back to the form).
            budget_minutes: Time budget used in the `advisor auto` command.
            data: Dataset path used in the command and the run.
            rules: Another rules directory for the engine.
            cursor_blink: False for stable snapshots and screenshots.
            out: Where Run writes the study, report and model.
            search_settings: Extra `TuneConfig` fields for Run (backbone, trials, ...).
        """
        super().__init__()
        self._initial_profile = profile
        self._budget_minutes = budget_minutes
        self._data = data
        self._rules = rules
        self.cursor_blink = cursor_blink
        self._out = out
        self._search_settings = dict(search_settings or {})

    def on_mount(self) -> None:
        """Push the questionnaire, and the recommendation on top when a profile was given."""
        self.theme = DARK_THEME
        self.push_screen(QuestionnaireScreen())
        if self._initial_profile is not None:
            self._show(self._initial_profile, self._budget_minutes, self._data)

    def _show(self, profile: DatasetProfile, budget_minutes: float, data: Path | None) -> None:
        try:
            book = load_rulebook(self._rules)
            rec = recommend(profile, rules=book)
        except RulesError as exc:  # a broken --rules directory: say so, keep the form
            self.notify(str(exc), title="rules", severity="error", timeout=10)
            return
        screen = RecommendationScreen(rec, budget_minutes=budget_minutes, data=data, ladder=book.ladder)
        self.push_screen(screen)

    @on(QuestionnaireScreen.Submitted)
    def show_recommendation(self, event: QuestionnaireScreen.Submitted) -> None:
        """Run the engine on the submitted profile and show its answer."""
        self._show(event.profile, event.budget_minutes, event.data)

    @on(RecommendationScreen.RunRequested)
    def start_search(self, event: RecommendationScreen.RunRequested) -> None:
        """Open the live search screen running `advisor auto` with the recommendation's settings."""
        from pydantic import ValidationError

        from advisor.auto.config import TuneConfig
        from advisor.tui.search_view import SearchScreen

        profile = event.recommendation.profile
        settings = {
            "data": event.data,
            "out": self._out,
            "budget_minutes": event.budget_minutes,
            "similarity": profile.similarity,
            "priority": profile.priority,
            **self._search_settings,
        }
        try:
            config = TuneConfig(**settings)
        except ValidationError as exc:
            self.notify(str(exc.errors()[0]["msg"]), title="cannot run", severity="error", timeout=10)
            return
        self.push_screen(SearchScreen(config))

    def action_toggle_theme(self) -> None:
        """Switch between the light and the dark theme."""
        self.theme = LIGHT_THEME if self.theme == DARK_THEME else DARK_THEME


def run_tui() -> None:
    """Open the advisor TUI in the terminal and return when the person quits."""
    AdvisorApp().run()
