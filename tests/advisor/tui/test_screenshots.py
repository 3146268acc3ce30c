"""`python -m advisor.tui.screenshots DIR` writes the two README screenshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.tui.screenshots import FILES, main


def test_screenshots_are_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main([str(tmp_path / "docs")])
    paths = [tmp_path / "docs" / name for name in FILES]
    assert capsys.readouterr().out.split() == [str(p) for p in paths]
    questionnaire, recommendation = (p.read_text() for p in paths)
    assert questionnaire.startswith("<svg") and recommendation.startswith("<svg")
    # SVG text uses &#160; for spaces; the words themselves come through intact.
    assert "Recommend" in questionnaire and "Very" in questionnaire
    assert "Feature" in recommendation and "ResNet-50" in recommendation
