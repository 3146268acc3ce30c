"""Would a second backbone's heads lift the heads' mix an ELPV export holds?

Every frozen-Lite0 lever has been measured (docs/benchmarks.md): the best reading of Lite0's frozen
pass, the RBF head on the 4 rotations' stage statistics, mixed with the linear head as the exports
do, sits near 0.87 on binary. The packaged weights hold two more backbones, EfficientNet-Lite1 and
Lite2 (nominally 240 and 260 px; the runners feed them 224). A member on another backbone errs
elsewhere, so it may add what no head on Lite0 can; its cost is one more frozen pass. This bench
measured both before anything was built (docs/benchmarks.md).

One frozen pass per backbone and right-angle rotation of every cell (the runners' eval transform and
input size, 224 px for every packaged Lite; with `--nominal`, timm's 240 and 260 px for Lite1 and
Lite2; channels last) keeps the runners' top state: `adapter.encode`, the
pooled features and the channel means and deviations of the upper stages, what a head-only trial
reads. Each backbone's pass seconds are printed. Then per split (the runners' `stratified_split`,
60/15/25, seeds 0, 1, …) and task, on each backbone the RBF and linear heads as the runners fit them
(`bench_elpv_heads.head_probabilities_of_runners`, C on validation), mixed by the runners' greedy
selection on validation (`runners.ensemble.greedy_selection`): Lite0's two heads (the exports'
mix, the first column), each other backbone's two, and Lite0's beside each other backbone's and
beside both. `--views 1` or `2` gives the other backbones' heads the image alone or with its half
turn (a pass of a quarter or half the cost), Lite0's keep the 4 rotations. Example (about 10 minutes
for the three passes, then 2–4 per split and task, on 2 CPU cores):

    HF_HUB_OFFLINE=1 python bench/bench_elpv_backbones.py --splits 8 --cache /tmp/elpv_backbones.npz [--views 2]
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

from bench_elpv_heads import RBF_CS, head_probabilities_of_runners  # noqa: E402
from bench_elpv_layers import VIEWS, per_rotation  # noqa: E402
from bench_elpv_pooling import C_GRID, Scorer, elpv_features, split_tables  # noqa: E402

import runners  # noqa: E402
from runners.backbones.build import build_timm, channels_last  # noqa: E402
from runners.backbones.packaged import FALLBACK_ORDER  # noqa: E402
from runners.backbones.registry import adapter_for  # noqa: E402
from runners.ensemble import greedy_selection  # noqa: E402
from runners.transforms import eval_transform  # noqa: E402

BACKBONES = tuple(FALLBACK_ORDER["image"])  # Lite0, Lite1, Lite2: the packaged image weights
SHORT = {name: name.removeprefix("efficientnet_").capitalize() for name in BACKBONES}
HEADS = {"RBF": (RBF_CS, True), "linear": (C_GRID, False)}
NOMINAL = "--nominal" in sys.argv  # read before `elpv_features` parses the rest (the passes need it first)


def top_state(name: str, nominal: bool = False):  # noqa: ANN201 - (transform, rows, side)
    """`name`'s eval transform, a function from a batch of images to the runners' top state, and its input
    side: the runners' (224 px for every packaged Lite, `runners.backbones.packaged`), or with `nominal`
    timm's pretrained configuration's (Lite1 240, Lite2 260)."""
    torch.manual_seed(0)
    model, data_cfg = build_timm(runners.resolve_backbone(name, "image", None), 2, {})
    model = channels_last(model.eval())
    adapter = adapter_for(model)
    cfg = dict(model.pretrained_cfg) if nominal else data_cfg
    side = cfg["input_size"][-1] if nominal else cfg["input_size"]
    return (
        eval_transform(side, cfg),
        lambda x: torch.cat(adapter.encode((x,), 0, adapter.n_blocks), 1),
        side,
    )


def widths() -> dict[str, int]:
    """Each backbone's top-state width, from one pass over a blank image."""
    out = {}
    for name in BACKBONES:
        _, rows, side = top_state(name, NOMINAL)
        with torch.no_grad():
            out[name] = int(rows(torch.zeros(1, 3, side, side)).shape[1])
    return out


def every_state(paths: list[str]) -> np.ndarray:
    """(n, VIEWS, Σ widths): every backbone's top state per rotation, side by side in `BACKBONES`' order."""
    states = []
    for name in BACKBONES:
        start = time.perf_counter()
        transform, rows, side = top_state(name, NOMINAL)
        states.append(per_rotation(paths, transform, rows))
        seconds = time.perf_counter() - start
        print(f"{name} at {side} px: {VIEWS} rotations of {len(paths)} cells in {seconds:.0f} s", file=sys.stderr)
    return np.concatenate(states, -1)


def mixes(features: np.ndarray, width: dict[str, int], views: int = VIEWS) -> dict[str, Scorer]:
    """The table's columns: greedy mixes of the named backbones' RBF and linear heads; every head is
    fitted once per split and task. Heads on the backbones after the first read their first `views`
    views only (the image, then its half turn, then the quarter turns: `runners.views`)."""
    offsets = np.cumsum([0, *width.values()])
    part = {name: slice(offsets[i], offsets[i + 1]) for i, name in enumerate(width)}
    fitted: dict[tuple[int, int, str, str], tuple[np.ndarray, np.ndarray, float]] = {}

    def probabilities(labels: np.ndarray, parts: tuple, seed: int, member: tuple[str, str]) -> tuple:
        backbone, head = member
        key = (int(labels.max()), seed, backbone, head)  # the task (2 or 4 classes), the split, the member
        if key not in fitted:
            cs, rbf = HEADS[head]
            seen = VIEWS if backbone == BACKBONES[0] else views
            picked = np.ascontiguousarray(features[:, :seen, part[backbone]])
            fitted[key] = head_probabilities_of_runners(picked, labels, parts, seed, cs, rbf)
        return fitted[key][0], fitted[key][1]

    def mix(backbones: tuple[str, ...]) -> Scorer:
        members = [(backbone, head) for backbone in backbones for head in HEADS]

        def score(labels: np.ndarray, parts: tuple, seed: int) -> float:
            probs = {member: probabilities(labels, parts, seed, member) for member in members}
            weights = greedy_selection({m: p[0] for m, p in probs.items()}, labels[parts[1]])
            test = sum(w * probs[m][1] for m, w in weights.items())
            return float(np.mean(np.asarray(test).argmax(-1) == labels[parts[2]]))

        return score

    first, *others = BACKBONES
    combos = [(first,), *((name,) for name in others), *((first, name) for name in others), BACKBONES]
    return {" + ".join(SHORT[name] for name in combo): mix(combo) for combo in combos}


def main() -> None:
    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--views",
            type=int,
            choices=(1, 2, VIEWS),
            default=VIEWS,
            help=f"views the heads on {', '.join(BACKBONES[1:])} read: the image, it and its half turn, or the "
            f"{VIEWS} rotations ({BACKBONES[0]}'s read the {VIEWS} rotations)",
        )
        parser.add_argument(
            "--nominal",
            action="store_true",
            help="each backbone at timm's pretrained input size (Lite1 240, Lite2 260 px) instead of the "
            "runners' 224 px (give it a --cache of its own)",
        )

    width = widths()
    shape = lambda n: (n, VIEWS, sum(width.values()))  # noqa: E731
    args, binary, grades, features = elpv_features(__doc__, shape, every_state, options)
    features = features.astype(np.float32)
    what = f"greedy mixes of each backbone's RBF and linear heads on the top state, {args.views} views past Lite0's"
    split_tables(binary, grades, {}, args.splits, what, mixes(features, width, args.views))


if __name__ == "__main__":
    main()
