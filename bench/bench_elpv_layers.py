"""Heads on the pooled features or on the stages' channel statistics too, on ELPV, over many splits.

ELPV cells (electroluminescence images of solar cells) are far from ImageNet, and a backbone's top
block is its most ImageNet-specific part: transfer studies find the middle layers transfer better the
further the target domain is (Yosinski et al., NeurIPS 2014). The runners' EfficientNet adapter keeps,
beside the pooled top features, the channel means and standard deviations of the upper half of the
stages (stages 3–6 of Lite0's 7: 1,408 numbers), and `TrialSpec.head_features="stage_statistics"`
fits the head on both. This bench takes that top state as the runners compute it (`encode` over the
whole backbone; Lite0 at 224 px, the runners' eval transform), once per right-angle rotation of every
cell, then per split (the runners' `stratified_split`, 60/15/25, seeds 0, 1, …) and task fits:

* the runners' converged linear head (`fit_linear_head`, C on validation over the pooling bench's
  `C_GRID`) on the pooled features (what `advisor auto` fitted before), on pooled + statistics, and
  on the statistics alone;
* the runners' RBF head (`bench_elpv_heads.rbf_test_accuracy`) on the pooled features and on both.

Each head is fitted on the 4 rotations of the training cells and scores a cell by its probabilities
averaged over the 4. Prints each split's test accuracy, the mean ± standard error over splits, and
each column's paired difference to the first. Example (about 7 minutes for the passes, then 1–2 per
split and task on 2 CPU cores):

    HF_HUB_OFFLINE=1 python bench/bench_elpv_layers.py --splits 8 --cache /tmp/elpv_top_states.npz

`--views 1` fits and scores on the image as it is (the first rotation), as a head-only trial does
when the views' passes do not fit its budget.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_augment_views import frozen_backbone  # noqa: E402
from bench_elpv_heads import head_test_accuracy_of_runners, rbf_test_accuracy  # noqa: E402
from bench_elpv_pooling import C_GRID, Scorer, elpv_features, split_tables  # noqa: E402

from runners.backbones.registry import adapter_for  # noqa: E402
from runners.data.images import to_rgb  # noqa: E402
from runners.transforms import eval_transform  # noqa: E402
from runners.views import dihedral_view  # noqa: E402

VIEWS = 4
POOLED = 1280  # Lite0's pooled features lead the top state; its stage statistics follow


def per_rotation(paths: list[str], transform, rows, batch: int = 32) -> np.ndarray:  # noqa: ANN001 - callables
    """(n, VIEWS, d): `rows(x)` ((b, d) from a batch of images) of every cell under each right-angle
    rotation, in batches of `batch` cells, with the progress on stderr."""
    chunks, start = [], time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(paths), batch):
            x = torch.stack([transform(to_rgb(p)) for p in paths[i : i + batch]])
            chunks.append(torch.stack([rows(dihedral_view(x, v)) for v in range(VIEWS)], 1))
            done = min(i + batch, len(paths))
            elapsed = time.perf_counter() - start
            left = elapsed * (len(paths) / done - 1)
            print(f"\r{done}/{len(paths)} cells, {elapsed:.0f} s, about {left:.0f} s left", end="", file=sys.stderr)
    print(file=sys.stderr)
    return torch.cat(chunks).numpy()


def top_states(paths: list[str], batch: int = 32) -> np.ndarray:
    """(n, views, 1280 + 1408): the runners' top state of Lite0 per rotation, pooled features then statistics."""
    model = frozen_backbone("efficientnet_lite0", 0)
    adapter = adapter_for(model)
    transform = eval_transform(model.pretrained_cfg["input_size"][-1], model.pretrained_cfg)
    return per_rotation(paths, transform, lambda x: torch.cat(adapter.encode((x,), 0, adapter.n_blocks), 1), batch)


def main() -> None:
    def views_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--views",
            type=int,
            choices=range(1, VIEWS + 1),
            default=VIEWS,
            help="fit and score on the first N views (`runners.views`: 0, 180, 90, 270 degrees)",
        )

    args, binary, grades, features = elpv_features(__doc__, lambda n: (n, VIEWS), top_states, views_option)
    features = features[:, : args.views].astype(np.float32)
    pooled, statistics = features[..., :POOLED], features[..., POOLED:]

    def linear(features: np.ndarray) -> Scorer:
        return lambda labels, parts, seed: head_test_accuracy_of_runners(features, labels, parts, seed, C_GRID, False)[
            0
        ]

    def rbf(features: np.ndarray) -> Scorer:
        return lambda labels, parts, seed: rbf_test_accuracy(features, labels, parts, seed)[0]

    scorers = {
        "linear, pooled (before)": linear(pooled),
        "linear, pooled + statistics": linear(features),
        "linear, statistics alone": linear(statistics),
        "RBF, pooled": rbf(pooled),
        "RBF, pooled + statistics": rbf(features),
    }
    what = "Lite0 on the image as it is" if args.views == 1 else f"Lite0 on the first {args.views} rotations"
    split_tables(binary, grades, {}, args.splits, what, scorers)


if __name__ == "__main__":
    main()
