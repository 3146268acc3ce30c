"""Tests for CSV/JSONL/folder text loading and its error messages."""

import json
from pathlib import Path

import pytest

from runners.data.text import load_text_folder, load_text_table
from runners.errors import DataError


def test_csv_with_custom_columns(tmp_path: Path):
    f = tmp_path / "d.csv"
    f.write_text('body,topic\n"hello, world",a\nbye,b\n')
    data = load_text_table(f, text_column="body", label_column="topic")
    assert data.inputs == ["hello, world", "bye"] and data.labels == ["a", "b"]


def test_csv_without_label_column_names_its_columns(tmp_path: Path):
    f = tmp_path / "d.csv"
    f.write_text("text,category\nx,a\ny,b\n")
    with pytest.raises(DataError, match=r"no column 'label'.*\['text', 'category'\]"):
        load_text_table(f)


def test_non_utf8_is_refused_with_line_number(tmp_path: Path):
    f = tmp_path / "d.csv"
    f.write_bytes("text,label\nok,a\ncaf\xe9,b\n".encode("latin-1"))
    with pytest.raises(DataError, match="line 3 is not valid utf-8"):
        load_text_table(f)
    assert load_text_table(f, encoding="latin-1").inputs[1] == "café"


def test_jsonl(tmp_path: Path):
    f = tmp_path / "d.jsonl"
    f.write_text("\n".join(json.dumps({"text": t, "label": label}) for t, label in [("a", "x"), ("b", "y")]))
    assert load_text_table(f).labels == ["x", "y"]


def test_jsonl_bad_line(tmp_path: Path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"text": "a", "label": "x"}\n{oops\n')
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        load_text_table(f)


def test_single_class_csv_is_refused(tmp_path: Path):
    f = tmp_path / "d.csv"
    f.write_text("text,label\nx,a\ny,a\n")
    with pytest.raises(DataError, match="at least 2 classes"):
        load_text_table(f)


def test_text_folder(tmp_path: Path):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / "1.txt").write_text(f"doc {cls}")
    data = load_text_folder(tmp_path)
    assert data.inputs == ["doc a", "doc b"]


def test_presplit_text_folder_keeps_its_splits(tmp_path: Path) -> None:
    for split, n in (("train", 3), ("val", 1), ("test", 2)):
        for label in ("sport", "tech"):
            folder = tmp_path / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                (folder / f"{i}.txt").write_text(f"{label} {split} {i}")
    data = load_text_folder(tmp_path)
    assert data.presplit is not None
    assert sorted(set(zip(data.presplit, data.labels, strict=True))) == [
        ("test", "sport"),
        ("test", "tech"),
        ("train", "sport"),
        ("train", "tech"),
        ("val", "sport"),
        ("val", "tech"),
    ]
    assert data.presplit.count("train") == 6 and data.ids[0] == "train/sport/0.txt"


def test_skip_bad_lists_undecodable_files_and_empty_rows_instead_of_refusing(tmp_path: Path) -> None:
    for label, text in (("sport", "goal"), ("tech", "chip")):
        (tmp_path / "docs" / label).mkdir(parents=True)
        (tmp_path / "docs" / label / "0.txt").write_text(text)
    (tmp_path / "docs" / "tech" / "1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="1.txt: line 1 is not valid utf-8"):
        load_text_folder(tmp_path / "docs")
    data = load_text_folder(tmp_path / "docs", skip_bad=True)
    assert data.labels == ["sport", "tech"] and data.n_skipped == 1
    assert "1.txt: line 1 is not valid utf-8" in data.skipped[0]
    table = tmp_path / "t.csv"
    table.write_text("text,label\na,x\n,y\nb,y\n")
    kept = load_text_table(table, skip_bad=True)
    assert kept.inputs == ["a", "b"] and kept.skipped == [f"{table}: row 2 has an empty 'text' or 'label'"]
