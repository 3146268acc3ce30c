"""Dataset loading (image folders, text tables, in-memory lists) and stratified, recorded splits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LabelledData:
    """Examples with string labels, before splitting.

    Attributes:
        inputs: Image paths / PIL images / arrays, or texts.
        labels: Class name per example.
        ids: Stable identifier per example (relative path or index), recorded in the split file.
        presplit: Optional "train"/"val"/"test" per example when the source was pre-split.
        n_skipped: Files skipped because they could not be read.
        source: Human-readable origin, used in error messages.
        skipped: "PATH: why" of each skipped file or row (loaders called with `skip_bad`).
        layout_problems: "FOLDER: why" of each class folder left out (loaders called with `skip_bad`).
    """

    inputs: list[Any]
    labels: list[str]
    ids: list[str]
    presplit: list[str] | None = None
    n_skipped: int = 0
    source: str = "<memory>"
    skipped: list[str] = field(default_factory=list)
    layout_problems: list[str] = field(default_factory=list)


def from_memory(inputs: list[Any], labels: list[str], split: Sequence[str] | None) -> LabelledData:
    """`LabelledData` for in-memory examples (ids are their positions); refuses fewer than two classes."""
    check_classes(labels, "<memory>")
    return LabelledData(
        list(inputs), list(labels), [str(i) for i in range(len(inputs))], presplit=list(split) if split else None
    )


def check_classes(labels: list[str], source: str) -> list[str]:
    """Returns the sorted class names; refuses fewer than two classes."""
    from runners.errors import DataError

    names = sorted(set(labels))
    if len(names) < 2:
        raise DataError(f"{source}: need at least 2 classes, found {len(names)} ({names})")
    return names
