"""`advisor predict`: expand the inputs a person names, run the exported model, score labelled ones.

Inputs may be image files, image folders (a sub-folder per class gives true labels), `.txt`
files (one document each), tables in any format `advisor profile` reads (CSV, TSV, JSON lines:
their `text` column; a `label` column gives true labels), or literal texts for a text model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runners.data.formats import IMAGE_SUFFIXES, is_text_table
from runners.data.text import read_table
from runners.errors import DataError


class PredictionError(ValueError):
    """The model folder or an input cannot be used; the message names it."""


def _image_items(arg: str) -> list[tuple[str, Any, str | None]]:
    path = Path(arg)
    if path.is_file():
        return [(arg, str(path), None)]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise PredictionError(f"{path}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) inside")
        # A file directly in a class sub-folder of `path` carries that class as its true label.
        return [(str(p), str(p), p.parent.name if p.parent != path else None) for p in files]
    raise PredictionError(f"{arg}: no such image file or folder")


def _text_items(arg: str, text_column: str, label_column: str) -> list[tuple[str, Any, str | None]]:
    path = Path(arg)
    if path.is_file() and is_text_table(path):
        try:
            rows, _ = read_table(path)
        except DataError as exc:
            raise PredictionError(str(exc)) from None
        if rows and text_column not in rows[0]:
            raise PredictionError(f"{path}: no {text_column!r} column; it has {sorted(rows[0])}")
        return [
            (
                f"{path.name}:{i + 1}",
                str(row[text_column]),
                None if row.get(label_column) is None else str(row[label_column]),
            )
            for i, row in enumerate(rows)
        ]
    if path.is_file():
        return [(arg, path.read_text(encoding="utf-8", errors="replace"), None)]
    return [(arg[:40] + ("…" if len(arg) > 40 else ""), arg, None)]


def expand_inputs(
    inputs: list[str], modality: str, text_column: str = "text", label_column: str = "label"
) -> list[tuple[str, Any, str | None]]:
    """(name, what the model reads, true label or None) per example the arguments name, for a model of `modality`."""
    items: list[tuple[str, Any, str | None]] = []
    for arg in inputs:
        items += _text_items(arg, text_column, label_column) if modality == "text" else _image_items(arg)
    return items


def predict_inputs(
    model_dir: Path, inputs: list[str], text_column: str = "text", label_column: str = "label"
) -> tuple[list[dict[str, Any]], float | None]:
    """Predictions per input (label, confidence, true label when known) and accuracy on labelled ones."""
    from runners import load_predictor
    from runners.errors import RunnerError

    if not model_dir.is_dir():
        raise PredictionError(f"{model_dir}: no such model folder")
    try:
        predictor = load_predictor(model_dir)
    except (RunnerError, OSError, ValueError) as exc:
        raise PredictionError(f"{model_dir}: cannot load the model: {exc}") from exc
    # Every runners predictor (image, text, TF-IDF, ensemble) says which inputs it reads.
    items = expand_inputs(inputs, predictor.modality, text_column, label_column)
    predictions = predictor.predict([payload for _, payload, _ in items])
    rows = [
        {"input": name, "label": label, "confidence": round(confidence, 6), "true_label": truth}
        for (name, _, truth), (label, confidence) in zip(items, predictions, strict=True)
    ]
    labelled = [r for r in rows if r["true_label"] is not None]
    accuracy = sum(r["label"] == r["true_label"] for r in labelled) / len(labelled) if labelled else None
    return rows, accuracy
