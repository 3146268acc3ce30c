"""Benchmark of the frozen-prefix cache and of feature-extraction accuracy on the offline datasets.

Example (a few minutes on 2 CPU cores):
    HF_HUB_OFFLINE=1 PYTHONPATH=. python bench/bench_runners.py --limit 300 --epochs 2 --accuracy
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from runners import HFTextRunner, InMemoryData, StageSpec, TimmRunner, TrialSpec  # noqa: E402
from runners.cache import ActivationCache  # noqa: E402
from runners.data.offline import bbc_news, elpv  # noqa: E402

TASKS = {"elpv": ("image", "efficientnet_lite0", TimmRunner), "bbc": ("text", "minilm_l6", HFTextRunner)}


def _data(task: str, limit: int | None, seed: int) -> InMemoryData:
    if task == "elpv":
        return elpv(limit=limit, seed=seed)
    per_class = None if limit is None else max(3, limit // 5)
    return bbc_news(per_class=per_class, seed=seed)


def time_epochs(task: str, data: InMemoryData, k: int, cached: bool, args: argparse.Namespace) -> tuple[float, float]:
    """Returns (median seconds per epoch, whole-trial seconds) for training the top k blocks."""
    modality, backbone, runner_cls = TASKS[task]
    spec = TrialSpec(
        modality=modality,
        backbone=backbone,
        data=data,
        split_fractions=(0.8, 0.2, 0.0),
        stages=[StageSpec(trainable_blocks=k, epochs=args.epochs, lr_head=1e-3, lr_backbone=1e-4)],
        batch_size=32,
        max_length=args.max_length,
        early_stopping_patience=None,
        cache={"enabled": cached},
        seed=0,
    )
    result = runner_cls(cache=ActivationCache() if cached else None).run(spec)
    if result.status != "complete":
        raise RuntimeError(f"{task} k={k} cached={cached}: {result.status} {result.error}")
    return statistics.median(m.seconds for m in result.curve), result.seconds


def speed_table(args: argparse.Namespace) -> list[str]:
    rows = [
        "| task | backbone | n examples | k (trainable blocks) | uncached s/epoch | cached s/epoch | speed-up "
        "| cached trial s (incl. cache build) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task in args.tasks:
        data = _data(task, args.limit, 0)
        for k in args.ks:
            unc, _ = time_epochs(task, data, k, False, args)
            cac, total = time_epochs(task, data, k, True, args)
            rows.append(
                f"| {task} | {TASKS[task][1]} | {len(data.inputs)} | {k} | {unc:.2f} | {cac:.3f} "
                f"| {unc / cac:.1f}x | {total:.1f} |"
            )
            print(rows[-1], flush=True)
    return rows


def accuracy_runs(args: argparse.Namespace) -> list[str]:
    """Feature extraction (k = 0): ELPV binary val accuracy; BBC with 20 training docs per class."""
    lines = []
    data = elpv(limit=args.elpv_limit)
    spec = TrialSpec(
        modality="image",
        backbone=args.elpv_backbone,
        data=data,
        split_fractions=(0.7, 0.15, 0.15),
        stages=[StageSpec(trainable_blocks=0, epochs=150, lr_head=3e-3)]
        + ([StageSpec(trainable_blocks=args.elpv_k, epochs=15, lr_head=1e-3, lr_backbone=3e-4)] if args.elpv_k else []),
        batch_size=64,
        early_stopping_patience=15,
        weight_decay=1e-4,
        seed=0,
        class_weights=args.class_weights,
        cache={"disk_dir": args.cache_dir},
    )
    r = TimmRunner().run(spec)
    how = "head only" if not args.elpv_k else f"head, then top {args.elpv_k} blocks"
    lines.append(
        f"ELPV (n={len(data.inputs)}, {args.elpv_backbone}, {how}, class weights "
        f"{args.class_weights}): best val acc "
        f"{r.best_val_accuracy:.3f}, test acc {r.test_accuracy:.3f}, {r.seconds:.0f}s"
    )
    print(lines[-1], flush=True)
    if args.skip_bbc_accuracy:
        return lines
    full = bbc_news()
    rng = np.random.default_rng(0)
    split: list[str] = ["test"] * len(full.labels)
    for label in sorted(set(full.labels)):
        idx = rng.permutation([i for i, x in enumerate(full.labels) if x == label])
        for i in idx[:20]:
            split[i] = "train"
        for i in idx[20:30]:
            split[i] = "val"
    data = InMemoryData(inputs=full.inputs, labels=full.labels, split=split)
    spec = TrialSpec(
        modality="text",
        backbone="minilm_l6",
        data=data,
        max_length=args.max_length,
        stages=[StageSpec(trainable_blocks=0, epochs=150, lr_head=1e-2)],
        batch_size=32,
        early_stopping_patience=15,
        seed=0,
        cache={"disk_dir": args.cache_dir},
    )
    r = HFTextRunner().run(spec)
    lines.append(
        f"BBC News (20 train + 10 val docs per class, test n={r.n_test}, minilm_l6 mean-pooled features, "
        f"head only): test acc {r.test_accuracy:.3f}, val acc {r.best_val_accuracy:.3f}, {r.seconds:.0f}s"
    )
    print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=300, help="examples per task for the timing runs (0 = all)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timing run")
    parser.add_argument(
        "--ks",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=[0, 1, 2],
        help="trainable-block counts to time; empty string skips the timing table",
    )
    parser.add_argument("--tasks", type=lambda s: s.split(","), default=["elpv", "bbc"])
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--accuracy", action="store_true", help="also run the feature-extraction accuracy checks")
    parser.add_argument("--elpv-limit", type=int, default=None, help="ELPV images for the accuracy check")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--elpv-k", type=int, default=0, help="ELPV accuracy run: then fine-tune the top k blocks")
    parser.add_argument("--skip-bbc-accuracy", action="store_true")
    parser.add_argument("--elpv-backbone", default="efficientnet_lite0")
    parser.add_argument(
        "--class-weights",
        choices=["auto", "on", "off"],
        default="auto",
        help="class weighting for the ELPV accuracy run",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="persistent activation cache for the accuracy runs"
    )
    args = parser.parse_args()
    args.limit = args.limit or None
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rows = speed_table(args) if args.ks else []
    lines = accuracy_runs(args) if args.accuracy else []
    print("\n" + "\n".join(rows))
    print("\n".join(f"- {line}" for line in lines))
    print(f"\n(total {time.perf_counter() - start:.0f}s, {args.threads} threads, torch {torch.__version__})")


if __name__ == "__main__":
    main()
