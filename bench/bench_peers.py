"""`advisor auto` against its peers: same data, same split, same wall-clock budget, one session.

Run: `.venv/bin/python bench/bench_peers.py --task bbc20 --budget-minutes 3`
Tasks:
  bbc20    BBC News, 20 training + 10 validation documents per class, the rest as test; MiniLM-L6.
  bbcfull  BBC News, stratified 70/15/15; MiniLM-L6.
  elpv     ELPV binary (defective = probability >= 0.5), 60/15/25 (the 25% test as in Deitsch et al.
           2019); EfficientNet-Lite0. `--limit N` uses a stratified subset.
Rows: the tutorial's fixed recipes (feature extraction; feature extraction then the top 20% of
blocks at 1e-4/1e-5; all layers at 1e-5), plain Optuna TPE (no pruning, no cache, no rule plan),
TF-IDF + linear SVM (text), and `advisor auto`. Every row trains until the budget is spent (fixed
recipes: their epochs, cut by the budget) and is scored on the same held-out test split.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from advisor.auto.config import TuneConfig
from advisor.auto.search import run_search

BACKBONES = {"bbc20": "minilm_l6", "bbcfull": "minilm_l6", "elpv": "efficientnet_lite0"}


class BudgetSpent(Exception):
    """Stops a fixed recipe when its wall-clock budget is gone (the best weights are kept)."""


def write_task(task: str, root: Path, limit: int | None, seed: int) -> Path:
    """Materialise the task as a pre-split folder (train/val/test/<class>/...)."""
    from runners.data import offline

    data = offline.elpv(limit=limit, seed=seed) if task == "elpv" else offline.bbc_news(seed=seed)
    labels = np.array(data.labels)
    rng = np.random.default_rng(seed)
    split = np.empty(len(labels), dtype=object)
    for name in sorted(set(data.labels)):
        members = rng.permutation(np.flatnonzero(labels == name))
        if task == "bbc20":
            cuts = (20, 30)
        else:
            fractions = (0.6, 0.75) if task == "elpv" else (0.7, 0.85)
            cuts = (round(fractions[0] * len(members)), round(fractions[1] * len(members)))
        split[members[: cuts[0]]], split[members[cuts[0] : cuts[1]]], split[members[cuts[1] :]] = "train", "val", "test"
    for i, (item, label) in enumerate(zip(data.inputs, data.labels, strict=True)):
        folder = root / str(split[i]) / label
        folder.mkdir(parents=True, exist_ok=True)
        if task == "elpv":
            (folder / f"{i:05d}.png").symlink_to(item)
        else:
            (folder / f"{i:05d}.txt").write_text(item, encoding="utf-8")
    return root


def fixed_recipe(task: str, data: Path, stages: list[Any], budget_s: float, seed: int) -> dict[str, Any]:
    import runners

    modality = "image" if task == "elpv" else "text"
    deadline = time.monotonic() + budget_s

    def stop_at_budget(_metrics: Any) -> None:
        if time.monotonic() >= deadline:
            raise BudgetSpent

    spec = runners.TrialSpec(
        modality=modality,
        backbone=BACKBONES[task],
        data=data,
        stages=stages,
        seed=seed,
        batch_size=32,
        augment=runners.AugmentConfig(enabled=modality == "image"),
        early_stopping_patience=5,
    )
    result = runners.get_runner(modality).run(spec, stop_at_budget)
    return {"val": result.best_val_accuracy, "test": result.test_accuracy, "trials": 1}


def recipes(n_blocks: int) -> dict[str, list[Any]]:
    from runners import StageSpec

    top = max(1, round(0.2 * n_blocks))
    return {
        "feature extraction (head 1e-3, 10 ep)": [StageSpec(trainable_blocks=0, epochs=10, lr_head=1e-3)],
        "FE then top 20% at 1e-4/1e-5": [
            StageSpec(trainable_blocks=0, epochs=10, lr_head=1e-3),
            StageSpec(trainable_blocks=top, epochs=20, lr_head=1e-4, lr_backbone=1e-5),
        ],
        "all layers at 1e-5": [StageSpec(trainable_blocks=n_blocks, epochs=20, lr_head=1e-5, lr_backbone=1e-5)],
    }


def tfidf_svm(data: Path) -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    def read(split: str) -> tuple[list[str], list[str]]:
        files = sorted((data / split).glob("*/*.txt"))
        return [f.read_text(encoding="utf-8") for f in files], [f.parent.name for f in files]

    (train_x, train_y), (val_x, val_y), (test_x, test_y) = read("train"), read("val"), read("test")
    vectoriser = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1)
    model = LinearSVC(C=1.0).fit(vectoriser.fit_transform(train_x), train_y)
    val = float(np.mean(model.predict(vectoriser.transform(val_x)) == np.array(val_y)))
    test = float(np.mean(model.predict(vectoriser.transform(test_x)) == np.array(test_y)))
    return {"val": val, "test": test, "trials": 1}


def search(data: Path, out: Path, task: str, budget_minutes: float, seed: int, **settings: Any) -> dict[str, Any]:
    config = TuneConfig(
        data=data,
        out=out,
        backbone=BACKBONES[task],
        budget_minutes=budget_minutes,
        seed=seed,
        max_epochs_per_stage=8,
        **settings,
    )
    report = run_search(config)
    best = report.best
    return {
        "val": best.value if best else None,
        "test": report.test_accuracy,
        "trials": report.n_trials,
        "pruned": report.n_pruned,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(BACKBONES), default="bbc20")
    parser.add_argument("--budget-minutes", type=float, default=3.0)
    parser.add_argument("--limit", type=int, default=None, help="ELPV subset size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", nargs="*", default=None, help="substrings of row names to run (default: all)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import runners

    root = Path(tempfile.mkdtemp(prefix=f"bench-{args.task}-"))
    data = write_task(args.task, root / "data", args.limit, args.seed)
    budget_s = args.budget_minutes * 60
    n_blocks = runners.n_blocks(BACKBONES[args.task], "image" if args.task == "elpv" else "text")
    rows: dict[str, Any] = {
        name: (lambda s=stages: fixed_recipe(args.task, data, s, budget_s, args.seed))
        for name, stages in recipes(n_blocks).items()
    }
    rows["Optuna TPE, no pruning, no cache"] = lambda: search(
        data,
        root / "tpe",
        args.task,
        args.budget_minutes,
        args.seed,
        pruner="none",
        cache=False,
        enqueue_rule_plan=False,
    )
    if args.task != "elpv":
        rows["TF-IDF + linear SVM"] = lambda: tfidf_svm(data)
    rows["advisor auto"] = lambda: search(data, root / "auto", args.task, args.budget_minutes, args.seed)
    results = []
    for name, run in rows.items():
        if args.rows and not any(part in name for part in args.rows):
            continue
        start = time.perf_counter()
        outcome = run()
        results.append((name, outcome, time.perf_counter() - start))
        print(f"{name}: {outcome} ({results[-1][2]:.0f} s)", flush=True)
    print(
        f"\n{args.task}, budget {args.budget_minutes:g} min per row, backbone {BACKBONES[args.task]}, seed {args.seed}\n"
    )
    print("| row | val acc | test acc | trials | seconds |")
    print("|---|---|---|---|---|")
    for name, outcome, seconds in results:
        fmt = lambda v: "—" if v is None else f"{v:.4f}"  # noqa: E731
        print(f"| {name} | {fmt(outcome['val'])} | {fmt(outcome['test'])} | {outcome['trials']} | {seconds:.0f} |")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
