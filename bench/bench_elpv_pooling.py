"""Does the pooling of frozen features matter on ELPV, and how much does the split move the score?

One frozen pass of EfficientNet-Lite0 (224 px, its pretrained size; the runners' eval transform)
over every ELPV cell under the 4 rotations keeps three poolings of the top block's output: average
(what timm and the runners use), max, and GeM (p = 3; Radenović et al., TPAMI 2019), whose larger
weight on the strongest activations could suit small cracks on a large cell. Then, for each of
`--splits` stratified 60/15/25 splits (the bench's proportions, drawn by the runners'
`stratified_split` with seeds 0, 1, …) and each task (binary, 4 grades), a converged head per
pooling (`bench_augment_views.converged_head`, C chosen on validation over the 4 rotations'
averaged probabilities) is scored on test. Prints each split's test accuracy, the mean ± standard
error over splits, and each pooling's paired difference to average pooling. Example (about 4
minutes for the pass and 15 for the heads on 2 CPU cores):

    HF_HUB_OFFLINE=1 python bench/bench_elpv_pooling.py --splits 8 --cache /tmp/elpv_pooling.npz
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_augment_views import converged_head, frozen_backbone  # noqa: E402

from runners.data import LabelledData, offline  # noqa: E402
from runners.data.images import to_rgb  # noqa: E402
from runners.data.splits import stratified_split  # noqa: E402
from runners.specs import InMemoryData  # noqa: E402
from runners.transforms import eval_transform  # noqa: E402
from runners.views import dihedral_view  # noqa: E402

POOLINGS = ("average", "max", "GeM")
VIEWS = 4
C_GRID = np.logspace(-3.5, -0.5, 7)
FRACTIONS = (0.6, 0.15, 0.25)


def pooled_features(
    paths: list[str], batch: int = 32, size: int | None = None, crop_pct: float | None = None, views: int = VIEWS
) -> np.ndarray:
    """(n, views, poolings, d) features of the cells: the top block's map pooled three ways per view.

    `size` and `crop_pct` replace the pretrained config's input size and centre-crop fraction."""
    model = frozen_backbone("efficientnet_lite0", 0)
    cfg = dict(model.pretrained_cfg)
    if crop_pct is not None:
        cfg["crop_pct"] = crop_pct
    transform = eval_transform(size or cfg["input_size"][-1], cfg)

    def pool(x: torch.Tensor) -> torch.Tensor:
        fmap = model.forward_features(x.contiguous(memory_format=torch.channels_last))  # after conv_head, bn2, act
        gem = fmap.clamp(min=1e-6).pow(3).mean((2, 3)).pow(1 / 3)
        return torch.stack([fmap.mean((2, 3)), fmap.amax((2, 3)), gem], 1)

    chunks, start = [], time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(paths), batch):
            x = torch.stack([transform(to_rgb(p)) for p in paths[i : i + batch]])
            chunks.append(torch.stack([pool(dihedral_view(x, v)) for v in range(views)], 1))
            done = min(i + batch, len(paths))
            elapsed = time.perf_counter() - start
            print(
                f"\r{done}/{len(paths)} cells, {elapsed:.0f} s, about {elapsed * (len(paths) / done - 1):.0f} s left",
                end="",
                file=sys.stderr,
            )
    print(file=sys.stderr)
    return torch.cat(chunks).numpy()


def split(data: InMemoryData, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train/val/test indices of the runners' own stratified 60/15/25 split (what `advisor auto` draws)."""
    parts = stratified_split(
        LabelledData(list(data.inputs), list(data.labels), [str(i) for i in range(len(data.labels))]),
        FRACTIONS,
        seed,
    )
    return np.array(parts.train), np.array(parts.val), np.array(parts.test)


def head_test_accuracy(features: np.ndarray, labels: np.ndarray, parts: tuple[np.ndarray, ...]) -> float:
    """Test accuracy of the head whose C scores best on validation; probabilities averaged over the
    views (`features` is (n, views, d))."""
    train, val, test = parts
    views = features.shape[1]
    x = features[train].reshape(len(train) * views, -1)
    best: tuple[float, float] | None = None
    for c in C_GRID:
        head = converged_head(float(c)).fit(x, np.repeat(labels[train], views))

        def predict(rows: np.ndarray, head=head) -> np.ndarray:
            return np.mean([head.predict_proba(features[rows, v]) for v in range(views)], 0).argmax(1)

        score = float(np.mean(predict(val) == labels[val]))
        if best is None or score > best[0]:  # ties: the smaller C
            best = (score, float(np.mean(predict(test) == labels[test])))
    assert best is not None
    return best[1]


def elpv_features(
    doc: str,
    expected: Callable[[int], tuple[int, ...]],
    compute: Callable[[list[str]], np.ndarray],
    options: Callable[[argparse.ArgumentParser], object] | None = None,
) -> tuple[argparse.Namespace, InMemoryData, InMemoryData, np.ndarray]:
    """The ELPV benches' command line (`--splits`, `--cache`, and what `options` adds), both tasks'
    data, and the features: read from `--cache` when it exists (its leading shape must be
    `expected(n_cells)`), else `compute(paths)`, saved there when given."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--splits", type=int, default=8)
    parser.add_argument(
        "--cache", type=Path, default=None, help="an .npz to keep the features in (read when it exists)"
    )
    if options is not None:
        options(parser)
    args = parser.parse_args()
    binary, grades = offline.elpv(), offline.elpv(levels=4)
    assert binary.inputs == grades.inputs
    shape = expected(len(binary.inputs))
    if args.cache is not None and args.cache.exists():
        features = np.load(args.cache)["features"]
        if features.shape[: len(shape)] != shape:
            parser.error(f"--cache {args.cache}: features of shape {features.shape}, expected {shape} + (d,)")
    else:
        features = compute(list(binary.inputs))
        if args.cache is not None:
            np.savez(args.cache, features=features)
    return args, binary, grades, features


def main() -> None:
    args, binary, grades, features = elpv_features(__doc__, lambda n: (n, VIEWS, len(POOLINGS)), pooled_features)
    columns = {pooling: features[:, :, k] for k, pooling in enumerate(POOLINGS)}
    split_tables(binary, grades, columns, args.splits, f"Lite0 at its pretrained input size, {VIEWS} rotations")


Scorer = Callable[[np.ndarray, tuple[np.ndarray, ...], int], float]


def split_tables(
    binary: InMemoryData,
    grades: InMemoryData,
    columns: dict[str, np.ndarray],
    splits: int,
    what: str,
    scorers: dict[str, Scorer] | None = None,
) -> None:
    """For each task, one row per split of every column's test accuracy, then the mean ± standard error
    over splits and each column's paired difference to the first. A column is (n, views, d) features
    scored by `head_test_accuracy`, or in `scorers`, a function of (labels, split parts, split seed)."""
    se = lambda a: a.std(ddof=1) / np.sqrt(len(a))  # noqa: E731
    score: dict[str, Scorer] = {
        name: (lambda labels, parts, seed, f=features: head_test_accuracy(f, labels, parts))
        for name, features in columns.items()
    }
    score.update(scorers or {})
    names = list(score)
    for task, data in (("binary", binary), ("4 grades", grades)):
        labels = np.unique(np.array(data.labels), return_inverse=True)[1]
        scores = np.empty((splits, len(names)))
        print(f"\nELPV {task}, {what}, {len(labels)} cells\n")
        print("| split seed | " + " | ".join(names) + " |")
        print("|---" * (len(names) + 1) + "|")
        for seed in range(splits):
            parts = split(data, seed)
            scores[seed] = [score[name](labels, parts, seed) for name in names]
            print(f"| {seed} | " + " | ".join(f"{s:.3f}" for s in scores[seed]) + " |", flush=True)
        print("| mean ± SE | " + " | ".join(f"{s.mean():.3f} ± {se(s):.3f}" for s in scores.T) + " |")
        print(
            f"| − {names[0]}, paired | — | "
            + " | ".join(f"{d.mean():+.3f} ± {se(d):.3f}" for d in (scores[:, 1:] - scores[:, :1]).T)
            + " |"
        )


if __name__ == "__main__":
    main()
