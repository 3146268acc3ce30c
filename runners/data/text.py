"""Text datasets: CSV / JSONL tables with text and label columns, or a folder of `<class>/*.txt`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from runners.data import LabelledData, check_classes
from runners.data.formats import JSON_LINES_SUFFIXES, TEXT_FILE_SUFFIX
from runners.errors import DataError


def _decode(raw: bytes, path: Path, encoding: str) -> str:
    """Decodes `raw`, naming the first offending line when it is not valid `encoding`."""
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}: line {line} is not valid {encoding} ({exc.reason} at byte {exc.start}); "
            f"re-save the file as UTF-8 or pass encoding='latin-1' (or the file's real encoding)"
        ) from None


def _from_rows(
    rows: list[dict], path: Path, text_col: str, label_col: str, columns: list[str], skip_bad: bool = False
) -> LabelledData:
    for col in (text_col, label_col):
        if col not in columns:
            raise DataError(f"{path}: no column {col!r}; the file has columns {columns}")
    data = LabelledData(inputs=[], labels=[], ids=[], source=str(path))
    for i, row in enumerate(rows):
        text, label = row.get(text_col), row.get(label_col)
        if text is None or label is None or str(text).strip() == "" or str(label).strip() == "":
            problem = f"row {i + 1} has an empty {text_col!r} or {label_col!r}"
            if not skip_bad:
                raise DataError(f"{path}: {problem}")
            data.n_skipped += 1
            data.skipped.append(f"{path}: {problem}")
            continue
        data.inputs.append(str(text))
        data.labels.append(str(label))
        data.ids.append(str(i))
    return data


def read_table(path: Path, encoding: str = "utf-8") -> tuple[list[dict], list[str]]:
    """The rows of a CSV / TSV / JSON-lines file and its columns (in order of first appearance).

    Raises:
        DataError: missing file, undecodable line, a line that is not a JSON object.
    """
    if not path.is_file():
        raise DataError(f"{path}: text dataset file does not exist")
    text = _decode(path.read_bytes(), path, encoding)
    if path.suffix.lower() in JSON_LINES_SUFFIXES:
        rows: list[dict] = []
        columns: list[str] = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {n} is not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}: line {n} is not a JSON object")
            columns.extend(k for k in row if k not in columns)
            rows.append(row)
    else:
        dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
        reader = csv.DictReader(io.StringIO(text), dialect=dialect)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    return rows, columns


def load_text_table(
    path: Path | str,
    text_column: str = "text",
    label_column: str = "label",
    encoding: str = "utf-8",
    skip_bad: bool = False,
) -> LabelledData:
    """Loads a .csv/.tsv or .jsonl/.json-lines file.

    With `skip_bad`, rows without text or label are skipped and listed in `skipped` instead of
    refused, and the number of classes is left for the caller to check.

    Raises:
        DataError: missing columns (naming those present), undecodable line, fewer than two classes.
    """
    path = Path(path)
    rows, columns = read_table(path, encoding)
    data = _from_rows(rows, path, text_column, label_column, columns, skip_bad)
    if not skip_bad:
        check_classes(data.labels, str(path))
    return data


def load_text_folder(root: Path | str, encoding: str = "utf-8", skip_bad: bool = False) -> LabelledData:
    """Loads `root/<class>/*.txt` (one document per file), or pre-split `root/train|val|test/<class>/*.txt`.

    With `skip_bad`, files that do not decode are skipped and listed in `skipped`, and class folders
    without .txt files are left out and listed in `layout_problems`, instead of refused; the number
    of classes is then left for the caller to check (so it can list every problem at once).
    """
    root = Path(root)
    data = LabelledData(inputs=[], labels=[], ids=[], source=str(root))
    splits = [name for name in ("train", "val", "test") if (root / name).is_dir()]
    if splits:
        data.presplit = []
    parts: list[str | None] = [*splits] if splits else [None]
    for split in parts:
        folder = root / split if split else root
        class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        for class_dir in class_dirs:
            files = sorted(class_dir.glob(f"*{TEXT_FILE_SUFFIX}"))
            if not files:
                problem = f"{class_dir}: class folder contains no .txt files"
                if not skip_bad:
                    raise DataError(problem)
                data.layout_problems.append(problem)
                continue
            for f in files:
                try:
                    text = _decode(f.read_bytes(), f, encoding)
                except DataError as exc:
                    if not skip_bad:
                        raise
                    data.n_skipped += 1
                    data.skipped.append(str(exc))
                    continue
                data.inputs.append(text)
                data.labels.append(class_dir.name)
                data.ids.append(str(f.relative_to(root)))
                if data.presplit is not None:
                    data.presplit.append(split or "train")
    if not skip_bad:
        check_classes(data.labels, str(root))
    return data
