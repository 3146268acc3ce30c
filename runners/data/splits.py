"""Seeded, stratified train/val/test splits, recorded as JSON so a run can be reproduced."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runners.data import LabelledData, check_classes
from runners.errors import DataError


def stratified_subset(
    labels: list[str], limit: int | None, seed: int, balanced: bool = False, min_per_class: int = 1
) -> list[int]:
    """Sorted indices of a seeded subset of about `limit` examples that keeps class proportions.

    Args:
        balanced: Take `limit / n_classes` of every class instead of keeping proportions.
        min_per_class: Every class keeps at least this many (or all it has).
    """
    if limit is None or limit >= len(labels):
        return list(range(len(labels)))
    rng = np.random.default_rng(seed)
    arr = np.array(labels)
    chosen: list[int] = []
    for name in sorted(set(labels)):
        members = np.flatnonzero(arr == name)
        share = 1 / len(set(labels)) if balanced else len(members) / len(labels)
        take = min(len(members), max(min_per_class, round(limit * share)))
        chosen += rng.choice(members, take, replace=False).tolist()
    return sorted(chosen)


@dataclass(frozen=True)
class Split:
    """Indices into a `LabelledData` per split, plus the class order used for label ids."""

    class_names: list[str]
    train: list[int]
    val: list[int]
    test: list[int]
    seed: int
    fractions: tuple[float, float, float]

    def save(self, path: Path, data: LabelledData) -> Path:
        """Writes the split (example ids per split) as JSON and returns the path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "source": data.source,
            "seed": self.seed,
            "fractions": list(self.fractions),
            "class_names": self.class_names,
            **{name: [data.ids[i] for i in getattr(self, name)] for name in ("train", "val", "test")},
        }
        path.write_text(json.dumps(payload, indent=1))
        return path


def _min_needed(fractions: tuple[float, float, float]) -> int:
    return 1 + sum(1 for f in fractions[1:] if f > 0)


def stratified_split(data: LabelledData, fractions: tuple[float, float, float], seed: int) -> Split:
    """Splits each class separately so every split keeps the class proportions.

    A pre-split source keeps its assignment; a missing val split is then carved out of train.

    Raises:
        DataError: a class has too few examples to appear in every requested split.
    """
    class_names = check_classes(data.labels, data.source)
    labels = np.array(data.labels)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    if data.presplit is not None:
        pre = np.array(data.presplit)
        for name in parts:
            parts[name] = [int(i) for i in np.flatnonzero(pre == name)]
        if not parts["val"]:
            va = fractions[1] / (fractions[0] + fractions[1])
            sub = LabelledData(
                [data.inputs[i] for i in parts["train"]],
                [data.labels[i] for i in parts["train"]],
                [data.ids[i] for i in parts["train"]],
                source=data.source,
            )
            inner = stratified_split(sub, (1 - va, va, 0.0), seed)
            parts["val"] = [parts["train"][i] for i in inner.val]
            parts["train"] = [parts["train"][i] for i in inner.train]
        return Split(class_names, sorted(parts["train"]), sorted(parts["val"]), sorted(parts["test"]), seed, fractions)
    need = _min_needed(fractions)
    for name in class_names:
        idx = np.flatnonzero(labels == name)
        if len(idx) < need:
            raise DataError(
                f"{data.source}: class {name!r} has {len(idx)} example(s) but the split "
                f"{fractions} needs at least {need} (one per non-empty split)"
            )
        idx = idx[rng.permutation(len(idx))]
        n = len(idx)
        n_val = max(1, round(fractions[1] * n))
        n_test = max(1, round(fractions[2] * n)) if fractions[2] > 0 else 0
        if n - n_val - n_test < 1:
            n_val, n_test = 1, 1 if fractions[2] > 0 else 0
        parts["val"] += idx[:n_val].tolist()
        parts["test"] += idx[n_val : n_val + n_test].tolist()
        parts["train"] += idx[n_val + n_test :].tolist()
    return Split(class_names, sorted(parts["train"]), sorted(parts["val"]), sorted(parts["test"]), seed, fractions)
