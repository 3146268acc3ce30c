"""Does the input side or the centre crop of frozen features matter on ELPV?

ELPV cells are 300 × 300 px; the runners feed EfficientNet-Lite0 its pretrained eval transform
(resize to 256, centre-crop 224: `crop_pct` 0.875), which drops the outer 12.5% of every cell, where
cracks at the busbar ends and cell edges sit, and shrinks thin cracks below a pixel. Each variant
`SIZE:CROP_PCT` is one frozen pass over all 2,624 cells (`--views` rotations, average pooling);
then, as in `bench_elpv_pooling.py` (same splits: the runners' `stratified_split`, seeds 0, 1, …,
60/15/25), a converged head per variant (C chosen on validation) is scored on test for binary and
4 grades. Prints each split's accuracy, mean ± standard error, each variant's paired difference to
the first, and each pass's seconds. Example (about 8 minutes for the passes on 2 CPU cores):

    HF_HUB_OFFLINE=1 python bench/bench_elpv_resolution.py --variants 224:0.875,224:1,300:1,384:1 \\
        --splits 8 --cache-dir /tmp/elpv_resolution
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_elpv_pooling import pooled_features, split_tables  # noqa: E402

from runners.data import offline  # noqa: E402


def variant(text: str) -> tuple[int, float]:
    """`SIZE:CROP_PCT`, e.g. 300:1 (the whole cell at 300 px)."""
    size, _, crop = text.partition(":")
    try:
        parsed = int(size), float(crop or 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"variant {text!r}: expected SIZE:CROP_PCT, e.g. 300:1") from None
    if parsed[0] < 32 or not 0.5 <= parsed[1] <= 1.0:
        raise argparse.ArgumentTypeError(f"variant {text!r}: SIZE ≥ 32 and 0.5 ≤ CROP_PCT ≤ 1")
    return parsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=lambda t: [variant(v) for v in t.split(",")], default="224:0.875,300:1")
    parser.add_argument("--views", type=int, default=1, help="rotations per cell (1 to 4)")
    parser.add_argument("--splits", type=int, default=8)
    parser.add_argument("--cache-dir", type=Path, default=None, help="keeps each variant's features (.npz)")
    args = parser.parse_args()
    variants = args.variants  # argparse runs `type` on a string default too
    binary, grades = offline.elpv(), offline.elpv(levels=4)
    assert binary.inputs == grades.inputs
    features, seconds = [], []
    for size, crop in variants:
        cache = args.cache_dir / f"lite0-{size}-{crop:g}-{args.views}v.npz" if args.cache_dir else None
        start = time.perf_counter()
        if cache is not None and cache.exists():
            f = np.load(cache)["features"]
        else:
            f = pooled_features(list(binary.inputs), size=size, crop_pct=crop, views=args.views)[:, :, 0]
            if cache is not None:
                cache.parent.mkdir(parents=True, exist_ok=True)
                np.savez(cache, features=f)
        seconds.append(time.perf_counter() - start)
        features.append(f)
    names = [f"{s} px, crop {c:g}" for s, c in variants]
    print("\n| variant | pass seconds (0 = cached) |\n|---|---|")
    for name, s in zip(names, seconds, strict=True):
        print(f"| {name} | {s:.0f} |")
    split_tables(binary, grades, dict(zip(names, features, strict=True)), args.splits, f"Lite0, {args.views} view(s)")


if __name__ == "__main__":
    main()
