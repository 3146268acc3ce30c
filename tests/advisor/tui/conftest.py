"""Fixtures for the TUI tests: Pilot helpers (`ui`) and tiny image datasets on disk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image
from textual.pilot import Pilot
from textual.widgets import Input, RadioSet

SIZE = (110, 40)


async def type_into(pilot: Pilot, selector: str, text: str) -> None:  # type: ignore[type-arg]
    """Focus the input at `selector`, clear it, and type `text` key by key."""
    widget = pilot.app.screen.query_one(selector, Input)
    widget.focus()
    widget.value = ""
    await pilot.pause()
    await pilot.press(*text)


async def choose(pilot: Pilot, radio_set: str, value: str) -> None:  # type: ignore[type-arg]
    """Click the option `value` of the radio set `radio_set` and check it took."""
    await pilot.click(f"#{radio_set}-{value}")
    await pilot.pause()
    pressed = pilot.app.screen.query_one(f"#{radio_set}", RadioSet).pressed_button
    assert pressed is not None and pressed.name == value


@pytest.fixture
def anyio_backend() -> str:
    """Textual runs on asyncio."""
    return "asyncio"


@pytest.fixture
def ui() -> SimpleNamespace:
    """The Pilot helpers and the terminal size every TUI test uses."""
    return SimpleNamespace(size=SIZE, type_into=type_into, choose=choose)


def make_image_folder(root: Path, per_class: dict[str, int]) -> Path:
    """A folder of class subfolders holding tiny PNGs."""
    root.mkdir(parents=True, exist_ok=True)
    for name, count in per_class.items():
        (root / name).mkdir(parents=True)
        for index in range(count):
            Image.new("RGB", (4, 4), (index * 20 % 255, 0, 0)).save(root / name / f"{index}.png")
    return root


@pytest.fixture
def folder_factory() -> Callable[[Path, dict[str, int]], Path]:
    """`make_image_folder`, for tests that need other class counts."""
    return make_image_folder


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Two classes, 3 cats and 5 dogs."""
    return make_image_folder(tmp_path / "pets", {"cat": 3, "dog": 5})
