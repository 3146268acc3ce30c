"""What a data path holds: the file suffixes the loaders read, and the modality guessed from a path.

The one home of these facts: the runners' loaders, `advisor profile`, `advisor auto`'s settings and
`advisor predict` all read them from here, so a format one of them takes the others take too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from runners.errors import DataError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
# One JSON object per line; `.json` counts as JSON lines too.
JSON_LINES_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})
TEXT_TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".json")
# A text folder holds one document per `.txt` file, in a sub-folder per class.
TEXT_FILE_SUFFIX = ".txt"


def is_text_table(path: Path) -> bool:
    """A file the text-table loader reads (CSV, TSV or JSON lines), by its suffix."""
    return path.suffix.lower() in TEXT_TABLE_SUFFIXES


def check_data_file(path: Path) -> None:
    """Refuses a data file that is not a text table (a dataset is a table, or a folder).

    Raises:
        DataError: naming the file and the suffixes that are read.
    """
    if path.is_file() and not is_text_table(path):
        raise DataError(
            f"{path}: a data file must be one of {', '.join(TEXT_TABLE_SUFFIXES)} (images go in a folder per class)"
        )


def guess_modality(path: Path) -> Literal["image", "text"]:
    """A table file is text; a folder is text when its class folders hold more .txt files than images.

    Raises:
        DataError: the path does not exist, or is a file that is not a text table.
    """
    if path.is_file():
        check_data_file(path)
        return "text"
    if not path.is_dir():
        raise DataError(f"{path} does not exist")
    files = [*path.glob("*/*"), *path.glob("*/*/*")]
    n_text = sum(1 for f in files if f.suffix.lower() == TEXT_FILE_SUFFIX)
    n_images = sum(1 for f in files if f.suffix.lower() in IMAGE_SUFFIXES)
    return "text" if n_text > n_images else "image"
