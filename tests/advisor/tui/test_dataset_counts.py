"""Counting a dataset on disk: image class folders, CSV and JSONL with a `label` column."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from advisor.tui.dataset_counts import count_dataset, read_dataset


def test_image_folder_counts_images_per_class(image_folder: Path) -> None:
    (image_folder / "cat" / "notes.txt").write_text("not an image")
    (image_folder / ".cache").mkdir()
    counts = count_dataset(image_folder)
    assert counts.modality == "image"
    assert counts.per_class == {"cat": 3, "dog": 5}
    assert (counts.n_examples, counts.n_classes, counts.smallest_class, counts.largest_class) == (8, 2, 3, 5)


def test_csv_counts_rows_per_label(tmp_path: Path) -> None:
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\ngood,pos\nbad,neg\nfine,pos\n")
    counts = count_dataset(data)
    assert (counts.modality, counts.per_class) == ("text", {"neg": 1, "pos": 2})


def test_jsonl_counts_rows_per_label(tmp_path: Path) -> None:
    data = tmp_path / "reviews.jsonl"
    data.write_text("\n".join(json.dumps({"text": t, "label": lab}) for t, lab in [("a", 0), ("b", 1), ("c", 1)]))
    assert count_dataset(data).per_class == {"0": 1, "1": 2}


def test_bad_datasets_are_refused_with_a_message(
    tmp_path: Path, folder_factory: Callable[[Path, dict[str, int]], Path]
) -> None:
    cases = [
        (tmp_path / "missing", "does not exist"),
        (folder_factory(tmp_path / "one", {"cat": 2}), "found one class \\(cat\\)"),
        (folder_factory(tmp_path / "empty", {"cat": 0}), "found no classes"),
        (_write(tmp_path / "data.txt", "x"), "must be .csv or .jsonl"),
        (_write(tmp_path / "data.csv", "text,target\na,b\n"), "no 'label' column"),
        (_write(tmp_path / "data.jsonl", '{"label": 1}\nnot json\n'), "line 2 is not JSON"),
    ]
    for path, message in cases:
        with pytest.raises(ValueError, match=message):
            count_dataset(path)


def test_read_dataset_returns_profile_fields(image_folder: Path) -> None:
    assert read_dataset(image_folder) == {
        "modality": "image",
        "n_examples": 8,
        "n_classes": 2,
        "smallest_class": 3,
        "largest_class": 5,
    }


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
