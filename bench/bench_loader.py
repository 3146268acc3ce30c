"""How fast the image pipeline decodes and transforms images, in one process and in worker processes.

On a GPU the card trains EfficientNet-Lite0 on a batch faster than one process can decode and
augment it, so `runners.timm_runner.loader_workers` gives the loader worker processes there (none
on the CPU, where the model needs the cores). This prints milliseconds per image and images per
second of the loader alone (no model), for the clean eval transform and for the rule plan's four
augmentations, at each `--workers` count, on the first `--n` images of a pre-split folder's
train/ (as `bench/bench_peers.py --keep` writes it). Example (about 15 s on 2 CPU cores):

    HF_HUB_OFFLINE=1 python bench/bench_loader.py --data /tmp/bench-elpv-XXXX/data --workers 0 2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from runners.data.images import load_image_folder
from runners.data.splits import Split
from runners.specs import AugmentConfig, StageSpec, TrialSpec
from runners.timm_runner import ImagePipeline

# EfficientNet-Lite0's preprocessing (the packaged weights' mean/std, timm's bicubic resize and crop).
LITE0_CFG = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "interpolation": "bicubic", "crop_pct": 0.875}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a pre-split folder: its train/ is read")
    parser.add_argument("--n", type=int, default=480, help="images read per row")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()
    root = args.data / "train"
    data = load_image_folder(root)
    n = min(args.n, len(data.labels))
    split = Split(sorted(set(data.labels)), list(range(n)), [], [], 0, (1.0, 0.0, 0.0))
    print(f"{n} images of {root}, {args.size} px, batches of {args.batch_size}\n")
    print("| transform | workers | ms an image | images a second |")
    print("|---|---|---|---|")
    for augment in (False, True):
        spec = TrialSpec(
            modality="image",
            backbone="efficientnet_lite0",
            data=root,
            stages=[StageSpec(trainable_blocks=0)],
            augment=AugmentConfig(enabled=augment, flip=True, crop=True, rotation=True, color_jitter=True),
        )
        for workers in args.workers:
            pipe = ImagePipeline(data, split, args.size, LITE0_CFG, spec, workers=workers)
            start = time.perf_counter()
            seen = sum(len(y) for _, y in pipe.loader("train", list(range(n)), augment, args.batch_size))
            seconds = time.perf_counter() - start
            name = "the rule plan's 4 augmentations" if augment else "eval (resize, crop)"
            print(f"| {name} | {workers} | {1000 * seconds / seen:.2f} | {seen / seconds:.0f} |")


if __name__ == "__main__":
    main()
