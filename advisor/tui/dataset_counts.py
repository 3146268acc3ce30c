"""Count a dataset on disk — a folder of class subfolders of images, or a CSV/JSONL file with a `label` column.

The questionnaire uses this when `advisor.profiling.profile_dataset` is not in this build; it only
counts, it never opens an image.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from advisor.profile import Modality
from runners.data.images import IMAGE_SUFFIXES  # count exactly what the runners will load

TABLE_SUFFIXES = (".csv", ".jsonl")
LABEL_COLUMN = "label"


class DatasetCounts(BaseModel):
    """What counting a dataset found: totals, classes and the extremes that show imbalance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    modality: Modality
    per_class: dict[str, int]

    @property
    def n_examples(self) -> int:
        """Examples in all classes."""
        return sum(self.per_class.values())

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.per_class)

    @property
    def smallest_class(self) -> int:
        """Examples in the rarest class."""
        return min(self.per_class.values())

    @property
    def largest_class(self) -> int:
        """Examples in the commonest class."""
        return max(self.per_class.values())


def count_dataset(path: Path | str) -> DatasetCounts:
    """Count examples per class.

    Args:
        path: A folder with one subfolder of images per class, or a `.csv`/`.jsonl` file with a
            `label` column (text).

    Returns:
        The counts.

    Raises:
        ValueError: With a message fit to show at the path field (missing path, wrong kind of file,
            fewer than two classes, no examples).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise ValueError(f"{path} does not exist")
    if path.is_file():
        if path.suffix.lower() not in TABLE_SUFFIXES:
            raise ValueError(f"{path.name}: a data file must be .csv or .jsonl (images go in a folder per class)")
        counts = _count_table(path)
        modality: Modality = "text"
    else:
        counts = _count_image_folder(path)
        modality = "image"
    if len(counts) < 2:
        found = f"one class ({next(iter(counts))})" if counts else "no classes"
        raise ValueError(f"found {found}; a dataset needs at least 2 classes")
    return DatasetCounts(modality=modality, per_class=dict(sorted(counts.items())))


def _count_image_folder(folder: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        n = sum(1 for f in sub.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if n:
            counts[sub.name] = n
    return counts


def _count_table(path: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    with path.open(newline="", encoding="utf-8") as handle:
        if path.suffix.lower() == ".csv":
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or LABEL_COLUMN not in reader.fieldnames:
                raise ValueError(f"{path.name} has no '{LABEL_COLUMN}' column")
            rows = list(reader)
        else:
            rows = []
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path.name}: line {number} is not JSON") from exc
            if any(not isinstance(row, dict) or LABEL_COLUMN not in row for row in rows):
                raise ValueError(f"{path.name}: every line needs a '{LABEL_COLUMN}' field")
    for row in rows:
        counts[str(row[LABEL_COLUMN])] += 1
    return counts


def read_dataset(path: Path | str) -> dict[str, object]:
    """The profile fields a dataset on disk answers: modality and counts.

    Uses `advisor.profiling.profile_dataset` when this build has it, else `count_dataset`.

    Raises:
        ValueError: With a message fit to show at the path field.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise ValueError(f"{path} does not exist")
    try:
        from advisor.profiling import profile_dataset
    except ImportError:
        counts = count_dataset(path)
        return {
            "modality": counts.modality,
            "n_examples": counts.n_examples,
            "n_classes": counts.n_classes,
            "smallest_class": counts.smallest_class,
            "largest_class": counts.largest_class,
        }
    try:
        profiled = profile_dataset(path, measure_similarity=False)
    except Exception as exc:  # the profiler's own message is the one to show at the field
        raise ValueError(str(exc)) from exc
    fields = ("modality", "n_examples", "n_classes", "smallest_class", "largest_class")
    return {name: getattr(profiled, name, None) for name in fields}
