"""Print what the engine answers over a grid of profiles (size × similarity × modality) as Markdown.

Run: `.venv/bin/python bench/recommendation_grid.py` (no training; takes about a second).
"""

from __future__ import annotations

from typing import get_args

from advisor import DatasetProfile, recommend
from advisor.profile import Modality, Similarity

# (classes, examples): spans every band of both data-size tables in rules/strategy.yaml.
SIZES = [(5, 100), (4, 1200), (2, 2000), (10, 8000), (2, 20000), (2, 120000)]
SHORT = {
    "feature_extraction": "FE",
    "partial_fine_tune": "partial",
    "full_fine_tune": "full",
    "from_scratch": "scratch",
}


def cell(profile: DatasetProfile) -> str:
    rec = recommend(profile)
    last = rec.stages[-1]
    lr = f"{last.lr_backbone:.0e}" if last.lr_backbone else f"head {last.lr_head:.0e}"
    return f"{SHORT[rec.strategy]} {rec.trainable_fraction:.0%}, {rec.backbone.name}, {len(rec.stages)} st, {lr}"


def main() -> None:
    for modality in get_args(Modality):
        print(f"\n**{modality}** (cell: strategy trainable%, backbone, stages, final-stage backbone LR)\n")
        levels = get_args(Similarity)
        print("| classes × per class = examples | " + " | ".join(levels) + " |")
        print("|---" * (len(levels) + 1) + "|")
        for classes, n in SIZES:
            row = [
                cell(DatasetProfile(modality=modality, n_examples=n, n_classes=classes, similarity=s)) for s in levels
            ]
            print(f"| {classes} × {n // classes:,} = {n:,} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
