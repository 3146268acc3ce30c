"""Write the README's TUI screenshots: `python -m advisor.tui.screenshots docs/`.

Runs the app headless at a fixed size, fills in the questionnaire for an example dataset and
saves one SVG of the questionnaire and one of the recommendation it leads to.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from textual.widgets import Input, RadioSet

from advisor.tui.app import AdvisorApp

SIZE = (110, 40)
# The README's example dataset: 1,200 images in 4 classes, moderately similar to ImageNet.
EXAMPLE = {"#examples": "1200", "#classes": "4"}
FILES = ("tui-questionnaire.svg", "tui-recommendation.svg")


async def _capture(out: Path) -> list[Path]:
    app = AdvisorApp(cursor_blink=False)
    written: list[Path] = []
    async with app.run_test(size=SIZE) as pilot:
        for selector, text in EXAMPLE.items():
            app.screen.query_one(selector, Input).focus()
            await pilot.press(*text)
        app.screen.query_one("#similarity", RadioSet).focus()
        await pilot.pause()
        written.append(Path(app.save_screenshot(FILES[0], str(out))))
        await pilot.press("ctrl+n")
        await pilot.pause()
        written.append(Path(app.save_screenshot(FILES[1], str(out))))
    return written


def main(argv: list[str] | None = None) -> None:
    """Parse the output folder and write both screenshots into it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the SVGs (created if missing)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(_capture(args.out)):
        print(path)


if __name__ == "__main__":
    main()
