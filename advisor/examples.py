"""Write the offline example datasets (from the `offline` extra) to disk in the layouts `advisor auto` reads.

`elpv` → an image folder with a sub-folder per class (binary: defective = probability ≥ 0.5, or
the four probability levels); `bbc` → a CSV with `text` and `label` columns.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Example:
    """One offline example: what it is, how it is written, and its loader (`limit`, `seed` → `InMemoryData`)."""

    description: str
    modality: Literal["image", "text"]
    load: Callable[[int | None, int], object]


def _elpv(levels: int) -> Callable[[int | None, int], object]:
    def load(limit: int | None, seed: int) -> object:
        from runners.data import offline

        return offline.elpv(limit=limit, seed=seed, levels=levels)

    return load


def _bbc(limit: int | None, seed: int) -> object:
    from runners.data import offline

    return offline.bbc_news(per_class=None if limit is None else max(1, limit // 5), seed=seed)


EXAMPLES: dict[str, Example] = {
    "elpv": Example(
        "ELPV solar-cell electroluminescence images, functional vs defective (2,624 images)", "image", _elpv(2)
    ),
    "elpv4": Example("ELPV with the four defect-probability levels 0, 1/3, 2/3, 1 as classes", "image", _elpv(4)),
    "bbc": Example("BBC News articles, 5 topics (2,225 documents), as a CSV", "text", _bbc),
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


def _example(name: str) -> Example:
    if name not in EXAMPLES:
        raise ValueError(f"unknown example {name!r}; choose one of {sorted(EXAMPLES)}")
    return EXAMPLES[name]


def _write(example: Example, data: object, target: Path, link: bool, csv_name: str) -> Path:
    """Text as a CSV (`target/csv_name`), images as a folder per class under `target`."""
    if example.modality == "text":
        return _write_csv(data, target / csv_name)
    return _write_images(*_inputs_labels(data), target, link)


def write_example(
    name: str, target: Path, limit: int | None = None, seed: int = 0, link: bool = False, holdout: int = 0
) -> Path:
    """Write example `name` under `target`; `limit` keeps a class-stratified subset of that size.

    `holdout` > 0 also writes about that many other examples of the dataset, stratified, none of
    them in the written set, for `advisor predict` to score a model on data its search never saw:
    `target/heldout.csv` for text, the folder `heldout_path(target)` for images.

    Returns the path to pass to `advisor auto` (the folder, or the CSV file).
    """
    from runners import InMemoryData
    from runners.data.splits import stratified_subset

    example = _example(name)
    data = example.load(limit, seed)
    path = _write(example, data, target, link, f"{name}.csv")
    if holdout > 0:
        used = set(_inputs_labels(data)[0])
        inputs, labels = _inputs_labels(example.load(None, seed))
        rest = [i for i, x in enumerate(inputs) if x not in used]
        picked = [rest[i] for i in stratified_subset([labels[i] for i in rest], holdout, seed)]
        held = InMemoryData(inputs=[inputs[i] for i in picked], labels=[labels[i] for i in picked])
        text = example.modality == "text"
        _write(example, held, target if text else heldout_path(target), link, "heldout.csv")
    return path


def heldout_path(target: Path) -> Path:
    """Where `write_example(..., holdout=N)` puts the held-out images: beside `target`, not in it
    (a folder inside would be read as one more class)."""
    return target.parent / f"{target.name}-heldout"


def _inputs_labels(data: object) -> tuple[list[str], list[str]]:
    return list(data.inputs), list(data.labels)  # type: ignore[attr-defined]


def _write_csv(data: object, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(data.inputs, data.labels, strict=True))  # type: ignore[attr-defined]
    return path
