"""`advisor auto` takes every dataset format `advisor profile` takes, and guesses the same modality."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import advisor.cli.main
from advisor.cli.main import app
from advisor.profiling.evidence import ProfileReport
from runners.data.formats import TEXT_TABLE_SUFFIXES

RUNNER = CliRunner()
ROWS = [("good film", "pos"), ("bad film", "neg"), ("great plot", "pos"), ("dull plot", "neg")]


def _table(path: Path) -> Path:
    if path.suffix in (".csv", ".tsv"):
        sep = "\t" if path.suffix == ".tsv" else ","
        path.write_text("\n".join([f"text{sep}label", *(f"{t}{sep}{y}" for t, y in ROWS)]) + "\n")
    else:
        path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in ROWS))
    return path


def _text_folder(root: Path) -> Path:
    for i, (text, label) in enumerate(ROWS):
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / label / f"{i}.txt").write_text(text)
    return root


def _image_folder(root: Path) -> Path:
    for i, label in enumerate(["cat", "dog", "cat", "dog"]):
        (root / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((16, 16, 3), 40 * i, dtype=np.uint8)).save(root / label / f"{i}.png")
    (root / "cat" / "notes.txt").write_text("a stray note does not make the folder text")
    return root


def _datasets(tmp_path: Path) -> list[tuple[Path, str]]:
    tables = [(_table(tmp_path / f"data{suffix}"), "text") for suffix in TEXT_TABLE_SUFFIXES]
    return [*tables, (_text_folder(tmp_path / "texts"), "text"), (_image_folder(tmp_path / "images"), "image")]


def test_auto_takes_every_format_profile_takes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    searched: list = []
    monkeypatch.setattr(advisor.cli.main, "_search", lambda config, worker: searched.append(config))
    for data, modality in _datasets(tmp_path):
        profiled = RUNNER.invoke(app, ["profile", str(data), "--no-similarity", "--json"])
        assert profiled.exit_code == 0, f"{data.name}: {profiled.output}"
        assert ProfileReport.model_validate_json(profiled.stdout).profile.modality == modality, data.name
        result = RUNNER.invoke(app, ["auto", str(data), "--out", str(tmp_path / "out")])
        assert result.exit_code == 0, f"{data.name}: {result.output}"
        assert searched[-1].data == data and searched[-1].data_modality == modality, data.name


def test_auto_and_profile_refuse_the_same_file_with_the_same_words(tmp_path: Path) -> None:
    data = tmp_path / "notes.txt"
    data.write_text("text,label\nx,a\n")
    for argv in (["profile", str(data), "--no-similarity"], ["auto", str(data), "--out", str(tmp_path / "out")]):
        result = RUNNER.invoke(app, argv)
        assert result.exit_code == 2, result.output
        assert "a data file must be one of .csv, .tsv, .jsonl" in " ".join(result.output.split())
