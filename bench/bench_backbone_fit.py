"""Does LogME rank backbones the way feature extraction does? LogME on a sample vs trained heads.

For each offline image backbone: LogME and the frozen-feature probe on a stratified sample (what
`advisor profile` computes), then a real feature-extraction trial (head only, early stopping on
val loss) on the same data, reporting val and test accuracy. Example (about 10 minutes on 2 CPU
cores):

    HF_HUB_OFFLINE=1 python bench/bench_backbone_fit.py --limit 1000 --levels 2 4
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from advisor.engine.loader import load_rulebook  # noqa: E402
from advisor.profiling import measure_sample  # noqa: E402
from runners import StageSpec, TimmRunner, TrialSpec  # noqa: E402
from runners.data.offline import elpv  # noqa: E402

BACKBONES = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=1000, help="ELPV images (stratified subset)")
    parser.add_argument(
        "--levels", type=int, nargs="+", default=[2], help="2: functional/defective; 4: the four grades"
    )
    parser.add_argument("--sample", type=int, default=256, help="examples LogME sees")
    args = parser.parse_args()
    book = load_rulebook()
    print("| task | backbone | LogME (sample) | probe (sample) | FE val acc | FE test acc | FE s |")
    print("|---|---|---|---|---|---|---|")
    for levels in args.levels:
        data = elpv(limit=args.limit, levels=levels, seed=0)
        measured = measure_sample(data.inputs, data.labels, "image", BACKBONES, book, sample=args.sample)
        for score in measured.backbones:
            spec = TrialSpec(
                modality="image",
                backbone=score.backbone,
                data=data,
                split_fractions=(0.6, 0.2, 0.2),
                stages=[StageSpec(trainable_blocks=0, epochs=100, lr_head=3e-3)],
                batch_size=64,
                early_stopping_patience=10,
                weight_decay=1e-4,
                seed=0,
            )
            start = time.perf_counter()
            result = TimmRunner().run(spec)
            print(
                f"| ELPV {levels}-class, n={len(data.labels)} | {score.backbone} | {score.logme:+.3f} "
                f"| {score.probe_accuracy:.3f} | {result.best_val_accuracy:.3f} | {result.test_accuracy:.3f} "
                f"| {time.perf_counter() - start:.0f} |",
                flush=True,
            )
        print(f"| ELPV {levels}-class | chosen (balanced) | {measured.chosen_backbone} | | | | |", flush=True)


if __name__ == "__main__":
    main()
