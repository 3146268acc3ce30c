"""Write the offline example datasets (from the `zoo` extra) to disk in the layouts `advisor auto` reads.

`elpv` → an image folder with a sub-folder per class (binary: defective = probability ≥ 0.5, or
the four probability levels); `bbc` → a CSV with `text` and `label` columns.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Callable
from pathlib import Path

EXAMPLES: dict[str, str] = {
    "elpv": "ELPV solar-cell electroluminescence images, functional vs defective (2,624 images)",
    "elpv4": "ELPV with the four defect-probability levels 0, 1/3, 2/3, 1 as classes",
    "bbc": "BBC News articles, 5 topics (2,225 documents), as a CSV",
}


def _write_images(paths: list[str], labels: list[str], target: Path, link: bool) -> Path:
    for i, (src, label) in enumerate(zip(paths, labels, strict=True)):
        folder = target / label
        folder.mkdir(parents=True, exist_ok=True)
        dest = folder / f"{i:05d}_{Path(src).name}"
        if dest.exists():
            continue
        if link:
            os.symlink(src, dest)
        else:
            shutil.copyfile(src, dest)
    return target


def write_example(name: str, target: Path, limit: int | None = None, seed: int = 0, link: bool = False) -> Path:
    """Write example `name` under `target`; `limit` keeps a class-stratified subset of that size.

    Returns the path to pass to `advisor auto` (the folder, or the CSV file).
    """
    from runners.data import offline

    writers: dict[str, Callable[[], Path]] = {
        "elpv": lambda: _write_images(*_inputs_labels(offline.elpv(limit=limit, seed=seed)), target, link),
        "elpv4": lambda: _write_images(*_inputs_labels(offline.elpv(limit=limit, seed=seed, levels=4)), target, link),
        "bbc": lambda: _write_csv(
            offline.bbc_news(per_class=None if limit is None else max(1, limit // 5), seed=seed), target / "bbc.csv"
        ),
    }
    if name not in writers:
        raise ValueError(f"unknown example {name!r}; choose one of {sorted(writers)}")
    return writers[name]()


def _inputs_labels(data: object) -> tuple[list[str], list[str]]:
    return list(data.inputs), list(data.labels)  # type: ignore[attr-defined]


def _write_csv(data: object, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(data.inputs, data.labels, strict=True))  # type: ignore[attr-defined]
    return path
