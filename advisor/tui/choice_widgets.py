"""Radio widgets of the questionnaire: `ChoiceSet` (highlight starts on the chosen option) and `LevelButton`."""

from __future__ import annotations

import textwrap

from textual.content import Content
from textual.geometry import Size
from textual.widgets import RadioButton, RadioSet

# The button and its padding take 5 cells; the examples line up under the title.
_INDENT = 5


class LevelButton(RadioButton):
    """A `RadioButton` whose title is followed by a muted, wrapped line of examples."""

    def __init__(self, title: str, examples: str, **kwargs: object) -> None:
        """Show `title` beside the button and `examples` under it."""
        super().__init__(title, **kwargs)  # type: ignore[arg-type]
        self.examples = examples

    def _example_lines(self, width: int) -> list[str]:
        return textwrap.wrap(self.examples, width=max(12, width - _INDENT - 1))

    def render(self) -> Content:
        """The usual button line, then the examples, indented under the title."""
        lines = [("\n" + " " * _INDENT + line, "dim") for line in self._example_lines(self.content_region.width)]
        return Content.assemble(super().render(), *lines)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """One line for the title plus the wrapped examples."""
        return 1 + len(self._example_lines(width))


class ChoiceSet(RadioSet):
    """A `RadioSet` whose keyboard highlight starts on the pressed option, not on the first one.

    So on tab-in, up/down move from the current answer (Textual's RadioSet always starts at the top).
    """

    def on_mount(self) -> None:
        """Once RadioSet's own mount handler has run (it highlights the first button), move the highlight."""
        self.call_after_refresh(self._highlight_pressed)

    def _highlight_pressed(self) -> None:
        pressed = self.pressed_index
        if pressed >= 0:
            self._selected = pressed  # RadioSet's own highlight index; there is no public setter
