"""`advisor predict`: expand the inputs a person names, run the exported model, score labelled ones.

Inputs may be image files, image folders (a sub-folder per class gives true labels), `.txt`
files (one document each), CSV/JSONL files (their `text` column; a `label` column gives true
labels), or literal texts for a text model.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from runners.data.images import IMAGE_SUFFIXES


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


def _table_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() == ".jsonl":
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _text_items(arg: str, text_column: str, label_column: str) -> list[tuple[str, Any, str | None]]:
    path = Path(arg)
    if path.is_file() and path.suffix.lower() in (".csv", ".jsonl"):
        rows = _table_rows(path)
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
    is_text = predictor.modality == "text"
    items: list[tuple[str, Any, str | None]] = []
    for arg in inputs:
        items += _text_items(arg, text_column, label_column) if is_text else _image_items(arg)
    predictions = predictor.predict([payload for _, payload, _ in items])
    rows = [
        {"input": name, "label": label, "confidence": round(confidence, 6), "true_label": truth}
        for (name, _, truth), (label, confidence) in zip(items, predictions, strict=True)
    ]
    labelled = [r for r in rows if r["true_label"] is not None]
    accuracy = sum(r["label"] == r["true_label"] for r in labelled) / len(labelled) if labelled else None
    return rows, accuracy
