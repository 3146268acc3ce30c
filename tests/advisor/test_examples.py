"""The bundled examples on disk, and the held-out examples `make demo` scores with `advisor predict`."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from advisor.examples import heldout_path, write_example


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_bbc_heldout_is_stratified_and_shares_no_article_with_the_dataset(tmp_path: Path) -> None:
    path = write_example("bbc", tmp_path / "data", limit=50, seed=0, holdout=25)
    assert path == tmp_path / "data" / "bbc.csv"
    written, held = _rows(path), _rows(tmp_path / "data" / "heldout.csv")
    counts = Counter(r["label"] for r in written)
    assert len(counts) == 5 and set(counts.values()) == {10}  # --limit 50: 10 articles per topic
    assert not {r["text"] for r in written} & {r["text"] for r in held}
    assert 20 <= len(held) <= 30 and len({r["label"] for r in held}) == 5


def test_image_heldout_lies_beside_the_class_folders_not_among_them(tmp_path: Path) -> None:
    target = tmp_path / "cells"
    write_example("elpv", target, limit=40, seed=1, link=True, holdout=12)
    classes = sorted(p.name for p in target.iterdir())
    assert classes == ["defective", "functional"]  # no "heldout" class
    held = heldout_path(target)
    assert held.parent == tmp_path and sorted(p.name for p in held.iterdir()) == classes
    sources = {Path(p.resolve()) for p in target.rglob("*.png")}
    held_sources = {Path(p.resolve()) for p in held.rglob("*.png")}
    assert len(sources) == 40 and 10 <= len(held_sources) <= 14 and not sources & held_sources
