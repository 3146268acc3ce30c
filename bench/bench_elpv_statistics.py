"""Which channel statistics of which stages should a head on ELPV read: more of them than the runners keep?

The runners' EfficientNet adapter keeps, beside Lite0's pooled top features, the channel means and
standard deviations of the upper half of its stages (stages 3–6 of 7, `TimmEfficientNetAdapter.
tapped_blocks`); a head on them beat the pooled features alone on ELPV (`bench/bench_elpv_layers.py`).
Two cheap extensions read the same frozen pass, so they would cost a search nothing but a wider head:

* the lower stages too (the stem and stages 0–2: edges and textures, where a thin crack is still a
  strong local response, before the deeper stages' larger receptive fields average it away);
* each channel's spatial maximum beside its mean and deviation (a crack is a small part of a cell:
  the mean dilutes it, the maximum keeps its strongest response).

One frozen pass per right-angle rotation of every cell (Lite0, 224 px, the runners' eval
transform, channels last) keeps the pooled features and, for the stem and each of the 7 stages,
each channel's mean, standard deviation and maximum. The pooled features and the upper stages'
means and deviations are checked against the runners' own top state (`adapter.encode`) on the first
batch. Then per split (the runners' `stratified_split`, 60/15/25, seeds 0, 1, …) and task, the
runners' converged linear head (`fit_linear_head`, C on validation over the pooling bench's
`C_GRID`), fitted on the 4 rotations of the training cells and scoring a cell by its probabilities
averaged over them, on each feature set; prints each split's test accuracy, the mean ± standard
error over splits, and the paired difference to the runners' set. Example (about 5 minutes for the
passes, then 2–4 per split and task on 2 CPU cores):

    HF_HUB_OFFLINE=1 python bench/bench_elpv_statistics.py --splits 8 --cache /tmp/elpv_statistics.npz

`--rbf` scores the runners' RBF head instead (`bench_elpv_heads.rbf_test_accuracy`, C on validation),
on the runners' set and on every stage's three statistics.

`--mix` asks whether a linear head on every stage's three statistics would help the heads' mix an
export holds: the RBF head on the runners' set beside the linear head on the runners' set (as the
exports do) or on the widest, or beside both, mixed by the runners' greedy selection on validation
(`runners.ensemble.greedy_selection`) and by a plain mean, and each head alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_augment_views import frozen_backbone  # noqa: E402
from bench_elpv_heads import (  # noqa: E402
    RBF_CS,
    head_probabilities_of_runners,
    head_test_accuracy_of_runners,
    rbf_test_accuracy,
)
from bench_elpv_layers import POOLED, VIEWS, per_rotation  # noqa: E402
from bench_elpv_pooling import C_GRID, Scorer, elpv_features, split_tables  # noqa: E402

from runners.backbones.registry import adapter_for  # noqa: E402
from runners.data.images import to_rgb  # noqa: E402
from runners.ensemble import greedy_selection  # noqa: E402
from runners.transforms import eval_transform  # noqa: E402

STATISTICS = ("mean", "std", "max")
# Lite0's stem and 7 stages, in order: the channels each outputs (a row holds, after the pooled
# features, every stage's means, then its deviations, then its maxima).
CHANNELS = (32, 16, 24, 40, 80, 112, 192, 320)
UPPER = range(4, 8)  # the stages the runners keep (the adapter's tapped blocks 4–7)
WIDTH = POOLED + len(STATISTICS) * sum(CHANNELS)  # a row of `stage_rows`


def columns(stages: range, statistics: tuple[str, ...]) -> np.ndarray:
    """Column indices, in a row of `stage_rows`, of the pooled features and `statistics` of `stages`."""
    picked, start = [np.arange(POOLED)], POOLED
    for i, c in enumerate(CHANNELS):
        for name in STATISTICS:
            if i in stages and name in statistics:
                picked.append(np.arange(start, start + c))
            start += c
    return np.concatenate(picked)


def stage_rows(paths: list[str], batch: int = 32) -> np.ndarray:
    """(n, views, 1280 + 3 · 816): Lite0's pooled features, then each stage's channel mean, deviation
    and maximum, per rotation."""
    model = frozen_backbone("efficientnet_lite0", 0)
    adapter = adapter_for(model)
    transform = eval_transform(model.pretrained_cfg["input_size"][-1], model.pretrained_cfg)

    def rows(x: torch.Tensor) -> torch.Tensor:
        x = model.bn1(model.conv_stem(x))
        parts = [x]
        for block in model.blocks:
            x = block(x)
            parts.append(x)
        pooled = model.bn2(model.conv_head(x)).mean((2, 3))
        stats = [torch.cat([m.mean((2, 3)), m.std((2, 3), correction=0), m.amax((2, 3))], 1) for m in parts]
        return torch.cat([pooled, *stats], 1)

    with torch.no_grad():  # what the runners cache, from the same pass, on the first batch
        x = torch.stack([transform(to_rgb(p)) for p in paths[:batch]])
        runners = torch.cat(adapter.encode((x,), 0, adapter.n_blocks), 1)
        torch.testing.assert_close(rows(x)[:, columns(UPPER, ("mean", "std"))], runners, rtol=1e-4, atol=1e-4)
    return per_rotation(paths, transform, rows, batch)


def mixes(features: np.ndarray) -> dict[str, Scorer]:
    """`--mix`'s columns: the heads' mixes with and without the linear head on the widest set, then
    each head alone; every head is fitted once per split and task."""
    heads = {
        "RBF": (columns(UPPER, ("mean", "std")), RBF_CS, True),
        "linear": (columns(UPPER, ("mean", "std")), C_GRID, False),
        "linear, widest": (columns(range(len(CHANNELS)), STATISTICS), C_GRID, False),
    }
    fitted: dict[tuple[int, int, str], tuple[np.ndarray, np.ndarray, float]] = {}

    def probabilities(labels: np.ndarray, parts: tuple, seed: int, head: str) -> tuple[np.ndarray, np.ndarray]:
        key = (int(labels.max()), seed, head)  # the task (2 or 4 classes), the split, the head
        if key not in fitted:
            picked, cs, rbf = heads[head]
            fitted[key] = head_probabilities_of_runners(
                np.ascontiguousarray(features[..., picked]), labels, parts, seed, cs, rbf
            )
        return fitted[key][0], fitted[key][1]

    def mix(members: tuple[str, ...], greedy: bool) -> Scorer:
        def score(labels: np.ndarray, parts: tuple, seed: int) -> float:
            probs = {head: probabilities(labels, parts, seed, head) for head in members}
            weights = (
                greedy_selection({head: p[0] for head, p in probs.items()}, labels[parts[1]])
                if greedy
                else dict.fromkeys(members, 1 / len(members))
            )
            test = sum(w * probs[head][1] for head, w in weights.items())
            return float(np.mean(np.asarray(test).argmax(-1) == labels[parts[2]]))

        return score

    return {
        "greedy: RBF + linear (the exports')": mix(("RBF", "linear"), True),
        "greedy: RBF + linear, widest": mix(("RBF", "linear, widest"), True),
        "greedy: all three": mix(("RBF", "linear", "linear, widest"), True),
        "mean: RBF + linear": mix(("RBF", "linear"), False),
        "mean: RBF + linear, widest": mix(("RBF", "linear, widest"), False),
        **{f"{head} alone": mix((head,), False) for head in heads},
    }


def main() -> None:
    def options(parser: argparse.ArgumentParser) -> None:
        chosen = parser.add_mutually_exclusive_group()
        chosen.add_argument(
            "--rbf",
            action="store_true",
            help="score the runners' RBF head (`bench_elpv_heads.rbf_test_accuracy`) on the runners' set "
            "and on every stage's three statistics instead of the linear head on the four sets",
        )
        chosen.add_argument(
            "--mix",
            action="store_true",
            help="score the heads' mixes with and without a linear head on every stage's three statistics",
        )

    args, binary, grades, features = elpv_features(__doc__, lambda n: (n, VIEWS, WIDTH), stage_rows, options)
    features = features.astype(np.float32)
    if args.mix:
        split_tables(
            binary, grades, {}, args.splits, f"Lite0 on the {VIEWS} rotations, the heads' mixes", mixes(features)
        )
        return

    def head(stages: range, statistics: tuple[str, ...]) -> Scorer:
        picked = np.ascontiguousarray(features[..., columns(stages, statistics)])
        if args.rbf:
            return lambda labels, parts, seed: rbf_test_accuracy(picked, labels, parts, seed)[0]
        return lambda labels, parts, seed: head_test_accuracy_of_runners(picked, labels, parts, seed, C_GRID, False)[0]

    every = range(len(CHANNELS))
    sets = {
        "the runners' (stages 3–6, mean + std)": (UPPER, ("mean", "std")),
        "stages 3–6, mean + std + max": (UPPER, STATISTICS),
        "every stage, mean + std": (every, ("mean", "std")),
        "every stage, mean + std + max": (every, STATISTICS),
    }
    if args.rbf:
        sets = {name: sets[name] for name in ("the runners' (stages 3–6, mean + std)", "every stage, mean + std + max")}
    scorers = {name: head(*chosen) for name, chosen in sets.items()}
    kind = "an RBF head" if args.rbf else "a linear head"
    split_tables(binary, grades, {}, args.splits, f"Lite0 on the {VIEWS} rotations, {kind}", scorers)


if __name__ == "__main__":
    main()
