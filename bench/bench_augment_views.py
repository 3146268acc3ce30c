"""What each image augmentation does to the features a converged head reads.

A head is fitted (scikit-learn `LogisticRegression`, C = 0.03, standardised features: the converged
head of `runners.training.head`) on the clean frozen features of a sample of training images, then
scored on those images and on the validation images, clean and under one view of each augmentation
the runners apply (`runners.transforms.train_transform`, the search's default strength). A view
that keeps the label keeps the accuracy; on ELPV a ±15° rotation, which fills the corners with
black, takes a head at 0.95 on the clean training images to 0.41 (docs/benchmarks.md). Example
(about two minutes on 2 CPU cores, on a pre-split folder `bench/bench_peers.py --keep` wrote):

    HF_HUB_OFFLINE=1 python bench/bench_augment_views.py --data /tmp/bench-elpv4-XXXX/data --train 600
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import get_args

import numpy as np
import torch

import runners
from advisor.auto.trial_specs import augment_for
from advisor.recommendation import AugmentOp
from runners.backbones.build import build_timm, channels_last
from runners.data.images import to_rgb
from runners.transforms import eval_transform, train_transform

# One augmentation switched on at a time, then all together (what the rule plan asks for small image sets).
VIEWS: dict[str, tuple[AugmentOp, ...]] = {
    **{op: (op,) for op in get_args(AugmentOp)},
    "all four": get_args(AugmentOp),
}


def labelled_paths(folder: Path) -> list[tuple[Path, int]]:
    """Every file of `folder/<class>/` with its class id (classes in sorted order)."""
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    return [(path, i) for i, c in enumerate(classes) for path in sorted((folder / c).iterdir())]


def images(folder: Path, limit: int | None, seed: int) -> tuple[list, np.ndarray]:
    """Up to `limit` images of `folder/<class>/` (a seeded sample), as RGB, and their class ids."""
    items = labelled_paths(folder)
    order = np.random.default_rng(seed).permutation(len(items))[: limit or len(items)]
    return [to_rgb(items[k][0]) for k in order], np.array([items[k][1] for k in order])


def frozen_backbone(name: str, seed: int) -> torch.nn.Module:
    """The backbone with its pretrained weights, in eval mode and channels-last, for frozen features."""
    torch.manual_seed(seed)
    model, _ = build_timm(runners.resolve_backbone(name, "image", None), 2, {})
    return channels_last(model.eval())


def converged_head(c: float):  # noqa: ANN201 - a scikit-learn pipeline
    """The runners' converged head as scikit-learn fits it: logistic regression with C = `c` on standardised features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a pre-split folder: train/ and val/ of class folders")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--train", type=int, default=600, help="training images to fit and score on")
    parser.add_argument("--c", type=float, default=0.03, help="the head's inverse regularisation strength")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = frozen_backbone(args.backbone, args.seed)
    cfg = model.pretrained_cfg
    size = cfg["input_size"][-1]

    def features(batch: list, transform) -> np.ndarray:  # noqa: ANN001 - a torchvision transform
        out = []
        with torch.no_grad():
            for i in range(0, len(batch), 32):
                x = torch.stack([transform(im) for im in batch[i : i + 32]]).contiguous(
                    memory_format=torch.channels_last
                )
                out.append(model.forward_head(model.forward_features(x), pre_logits=True))
        return torch.cat(out).numpy()

    train, y_train = images(args.data / "train", args.train, args.seed)
    val, y_val = images(args.data / "val", None, args.seed)
    clean = eval_transform(size, cfg)
    head = converged_head(args.c)
    head.fit(features(train, clean), y_train)
    chance = np.bincount(y_train).max() / len(y_train)
    print(f"{args.backbone} at {size} px, head C = {args.c:g} fitted on {len(train)} clean training images")
    print(f"chance (the largest class's share of them): {chance:.3f}\n")
    print("| view | training images | validation images |")
    print("|---|---|---|")
    rows = {"clean": clean}
    for name, ops in VIEWS.items():
        rows[name] = train_transform(size, cfg, augment_for(ops))
    for name, transform in rows.items():
        torch.manual_seed(args.seed)  # the same random views on every run
        on_train = (head.predict(features(train, transform)) == y_train).mean()
        on_val = (head.predict(features(val, transform)) == y_val).mean()
        print(f"| {name} | {on_train:.3f} | {on_val:.3f} |")


if __name__ == "__main__":
    main()
