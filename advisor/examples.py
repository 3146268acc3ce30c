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


def _load(name: str, limit: int | None, seed: int) -> object:
    """The example's `InMemoryData`: all of it, or the subset `limit` and `seed` pick."""
    from runners.data import offline

    loaders: dict[str, Callable[[], object]] = {
        "elpv": lambda: offline.elpv(limit=limit, seed=seed),
        "elpv4": lambda: offline.elpv(limit=limit, seed=seed, levels=4),
        "bbc": lambda: offline.bbc_news(per_class=None if limit is None else max(1, limit // 5), seed=seed),
    }
    if name not in loaders:
        raise ValueError(f"unknown example {name!r}; choose one of {sorted(loaders)}")
    return loaders[name]()


def _write(name: str, data: object, target: Path, link: bool, csv_name: str) -> Path:
    if name == "bbc":
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

    data = _load(name, limit, seed)
    path = _write(name, data, target, link, "bbc.csv")
    if holdout > 0:
        used = set(_inputs_labels(data)[0])
        inputs, labels = _inputs_labels(_load(name, None, seed))
        rest = [i for i, x in enumerate(inputs) if x not in used]
        picked = [rest[i] for i in stratified_subset([labels[i] for i in rest], holdout, seed)]
        held = InMemoryData(inputs=[inputs[i] for i in picked], labels=[labels[i] for i in picked])
        _write(name, held, target if name == "bbc" else heldout_path(target), link, "heldout.csv")
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
