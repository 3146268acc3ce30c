"""What the dihedral views of each image (flips and right-angle rotations) add to a converged head.

Every image of a pre-split folder (train/, val/, test/ of class folders, as `bench/bench_peers.py
--keep` writes it) goes through the frozen backbone once per view: the four right-angle rotations
(`--views 4`), or those and their mirror images (`--views 8`, the dihedral group), as
`runners.views.dihedral_view` turns them (the search's `--dihedral-views`). None of them adds
black corners the way a ±15° rotation does (`bench/bench_augment_views.py`). Rows, each a
scikit-learn `LogisticRegression` on standardised pooled features with C chosen on validation
(the bench's frozen features + LR row):

  clean                  fitted and scored on each image as it is (the views unused);
  clean head, views      the clean head, scored by its probabilities averaged over the views;
  views head, averaged   fitted on every view of each training image, scored by the average of its
                         probabilities over the views of each image (test-time augmentation);
  mean feature           fitted and scored on each image's features averaged over its views.

The passes' seconds are printed: the views multiply them, at search and at prediction time.
Example (about 12 minutes for an ELPV split with 8 views, on 2 CPU cores):

    HF_HUB_OFFLINE=1 python bench/bench_frozen_views.py --data /tmp/bench-elpv4-XXXX/data --views 8
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from bench_augment_views import converged_head, frozen_backbone, labelled_paths

from runners.data.images import to_rgb
from runners.transforms import eval_transform
from runners.views import dihedral_view

C_GRID = np.logspace(-4, 0, 9)


def choose_c(
    fit: Callable[[float], Callable[[str], np.ndarray]], y: dict[str, np.ndarray]
) -> tuple[float, float, float]:
    """(validation accuracy, test accuracy, C) of the C with the best validation accuracy (ties: smaller C)."""
    best: tuple[float, float, float] | None = None
    for c in C_GRID:
        probs = fit(float(c))
        val = float(np.mean(probs("val").argmax(1) == y["val"]))
        if best is None or val > best[0]:
            best = (val, float(np.mean(probs("test").argmax(1) == y["test"])), float(c))
    assert best is not None
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a pre-split folder: train/, val/, test/")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--views", type=int, choices=(4, 8), default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = frozen_backbone(args.backbone, args.seed)
    cfg = model.pretrained_cfg
    transform = eval_transform(cfg["input_size"][-1], cfg)
    feats: dict[str, np.ndarray] = {}  # split -> (n, views, d)
    y: dict[str, np.ndarray] = {}
    start = time.perf_counter()
    with torch.no_grad():
        for split in ("train", "val", "test"):
            items = labelled_paths(args.data / split)
            chunks = []
            for i in range(0, len(items), 32):
                x = torch.stack([transform(to_rgb(path)) for path, _ in items[i : i + 32]])
                per_view = [
                    model.forward_head(model.forward_features(v.contiguous(memory_format=torch.channels_last)), True)
                    for v in (dihedral_view(x, view) for view in range(args.views))
                ]
                chunks.append(torch.stack(per_view, 1))
            feats[split], y[split] = torch.cat(chunks).numpy(), np.array([label for _, label in items])
    seconds = time.perf_counter() - start
    n_images = sum(len(v) for v in y.values())

    def head(rows: np.ndarray, labels: np.ndarray, c: float):  # noqa: ANN202 - a fitted pipeline
        return converged_head(c).fit(rows, labels)

    def clean(c: float) -> Callable[[str], np.ndarray]:
        model = head(feats["train"][:, 0], y["train"], c)
        return lambda split: model.predict_proba(feats[split][:, 0])

    def clean_averaged(c: float) -> Callable[[str], np.ndarray]:
        model = head(feats["train"][:, 0], y["train"], c)
        return lambda split: np.mean([model.predict_proba(feats[split][:, v]) for v in range(args.views)], 0)

    def views_averaged(c: float) -> Callable[[str], np.ndarray]:
        rows = feats["train"].reshape(-1, feats["train"].shape[-1])  # image-major: each image's views in a row
        model = head(rows, np.repeat(y["train"], args.views), c)
        return lambda split: np.mean([model.predict_proba(feats[split][:, v]) for v in range(args.views)], 0)

    def mean_feature(c: float) -> Callable[[str], np.ndarray]:
        model = head(feats["train"].mean(1), y["train"], c)
        return lambda split: model.predict_proba(feats[split].mean(1))

    print(
        f"{args.backbone} at {cfg['input_size'][-1]} px, {args.views} views of each of {n_images} images "
        f"(train/val/test {len(y['train'])}/{len(y['val'])}/{len(y['test'])}): {seconds:.0f} s of passes "
        f"({seconds / args.views:.0f} s for one view)\n"
    )
    print("| row | val acc | test acc | C (on val) |")
    print("|---|---|---|---|")
    rows = {
        "clean": clean,
        "clean head, views": clean_averaged,
        "views head, averaged": views_averaged,
        "mean feature": mean_feature,
    }
    for name, fit in rows.items():
        val, test, c = choose_c(fit, y)
        print(f"| {name} | {val:.3f} | {test:.3f} | {c:.2g} |", flush=True)


if __name__ == "__main__":
    main()
