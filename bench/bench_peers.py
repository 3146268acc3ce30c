"""`advisor auto` against its peers: same data, same split, same wall-clock budget, one session.

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_peers.py --task bbc20 --budget-minutes 3`
Tasks:
  bbc20    BBC News, 20 training + 10 validation documents per class, the rest as test; MiniLM-L6.
  bbc5     BBC News, 5 training + 5 validation documents per class, the rest as test; MiniLM-L6.
  bbcfull  BBC News, stratified 70/15/15; MiniLM-L6.
  elpv     ELPV binary (defective = probability >= 0.5), stratified 60/15/25 (the 25% test as in
           Deitsch et al. 2019); EfficientNet-Lite0 at 224 px. All 2,624 images unless `--limit N`
           (a stratified subset).
  elpv4    ELPV's 4 grades (annotated defect probability 0, 1/3, 2/3, 1 as classes), 60/15/25 as elpv.
  digits   scikit-learn's handwritten digits (1,797 grayscale 8x8 images, 10 classes, bundled with
           scikit-learn), saved as PNG files, stratified 60/15/25; EfficientNet-Lite0. Data this
           project was never tuned on, the size of the held-out image folder of issue 11.
Rows: the tutorial's fixed recipes (feature extraction; feature extraction then the top 20% of
blocks at 1e-4/1e-5; all layers at 1e-5), plain Optuna TPE (no pruning, no cache, no rule plan),
frozen features + scikit-learn LogisticRegression (C chosen on validation), an RBF SVM on 32×32
pixels (images), TF-IDF + linear SVM (text), SetFit (text; `pip install -e .[bench]`), AutoGluon's
`MultiModalPredictor` on the same backbone (`--autogluon-python`, its own environment), and `advisor auto`. Every row gets the same
split and the same wall-clock budget: the fixed recipes train their epochs, cut by the budget; the
searches stop starting trials when it is spent; a row may overrun by the epoch or trial in flight.
SetFit cannot be cut by a clock: it runs whole and its seconds are printed beside its accuracy.
The table gives each row's seconds, the budget, and the overshoot (seconds / budget - 1); rows
more than 5% over are marked "overran". `--rows` picks rows by substring (the issue's ELPV
protocol runs three: `--rows "frozen features" "Optuna TPE" "advisor auto"`), and
`--auto-setting KEY=VALUE` (repeatable) passes extra `TuneConfig` settings to the `advisor auto`
row only (e.g. an ablation). `--plan JSON` (repeatable) adds a row that runs one trial of that
`TrialPlan` whole, as the search builds it, with `--augment` choosing its image augmentations;
its validation curve is printed with the row's outcome.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import numpy as np
import optuna

from advisor.auto.config import TuneConfig
from advisor.auto.search import run_search
from advisor.recommendation import AugmentOp
from runners.errors import StopTrial
from runners.pixels import PIXEL_SIDE

BACKBONES = {
    "bbc20": "minilm_l6",
    "bbc5": "minilm_l6",
    "bbcfull": "minilm_l6",
    "elpv": "efficientnet_lite0",
    "elpv4": "efficientnet_lite0",
    "digits": "efficientnet_lite0",
}
IMAGE_TASKS = {"elpv", "elpv4", "digits"}
# Training and validation documents per class for the few-shot BBC tasks (the rest is test).
PER_CLASS = {"bbc20": (20, 10), "bbc5": (5, 5)}
OVERRUN = 0.05  # a budgeted row more than 5% over its budget is marked "overran"
FROZEN_LR = "frozen features + LogisticRegression (C on val)"
SETFIT = "SetFit (MiniLM-L6, num_iterations=20)"
AUTOGLUON = "AutoGluon MultiModalPredictor (same backbone)"
PIXELS_SVM = f"{PIXEL_SIDE}×{PIXEL_SIDE} pixels + RBF SVM (C on val)"
LP_FT = "LP-FT: top 20% for 8 epochs from the converged head"
RANDOM_HEAD = "LP-FT off: top 20% for 8 epochs from a random head"
UNBUDGETED = {SETFIT, LP_FT, RANDOM_HEAD}  # run whole: no wall clock can cut them
ONE_TRIAL = "one trial: "  # the `--plan` rows' names start so; they run whole too


class BudgetSpent(StopTrial):
    """Stops a fixed recipe when its wall-clock budget is gone (the best weights are kept)."""


def modality_of(task: str) -> str:
    return "image" if task in IMAGE_TASKS else "text"


def write_task(task: str, root: Path, limit: int | None, seed: int) -> Path:
    """Materialise the task as a pre-split folder (train/val/test/<class>/...)."""
    from runners.data import offline

    if task.startswith("elpv"):
        data = offline.elpv(limit=limit, seed=seed, levels=4 if task == "elpv4" else 2)
    elif task == "digits":
        data = offline.digits()
    else:
        data = offline.bbc_news(seed=seed)
    labels = np.array(data.labels)
    rng = np.random.default_rng(seed)
    split = np.empty(len(labels), dtype=object)
    for name in sorted(set(data.labels)):
        members = rng.permutation(np.flatnonzero(labels == name))
        if task in PER_CLASS:
            n_train, n_val = PER_CLASS[task]
            cuts = (n_train, n_train + n_val)
        else:
            fractions = (0.6, 0.75) if task in IMAGE_TASKS else (0.7, 0.85)
            cuts = (round(fractions[0] * len(members)), round(fractions[1] * len(members)))
        split[members[: cuts[0]]], split[members[cuts[0] : cuts[1]]], split[members[cuts[1] :]] = "train", "val", "test"
    for i, (item, label) in enumerate(zip(data.inputs, data.labels, strict=True)):
        folder = root / str(split[i]) / label
        folder.mkdir(parents=True, exist_ok=True)
        if task.startswith("elpv"):
            (folder / f"{i:05d}.png").symlink_to(item)
        elif task == "digits":
            item.save(folder / f"{i:05d}.png")
        else:
            (folder / f"{i:05d}.txt").write_text(item, encoding="utf-8")
    return root


def fixed_recipe(task: str, data: Path, stages: list[Any], budget_s: float, seed: int) -> dict[str, Any]:
    import runners

    modality = modality_of(task)
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


def head_start(task: str, data: Path, root: Path, n_blocks: int, seed: int, converged: bool) -> dict[str, Any]:
    """One fine-tuning trial exactly as the search builds it (`advisor.auto.trial_specs.trial_spec`),
    run to its last epoch, starting from the converged head (LP-FT) or a random one.

    The plan is the rule plan's second stage on ELPV (trial 0 of every ELPV run): the top 20% of the
    blocks for 8 epochs at 1e-3 (head) / 1e-4 (blocks), head C = 0.01. Both rows run the same
    epochs, so the difference is the head's starting point; LP-FT's seconds include its frozen pass.
    """
    from advisor.auto.space import TrialPlan

    plan = TrialPlan(
        trainable_blocks=max(1, round(0.2 * n_blocks)),
        head_c=0.01,
        lr_head=1e-3,
        lr_backbone=1e-4,
        layer_decay=1.0,
        tune_epochs=8,
        weight_decay=1e-5,
    )
    # The runners' default AugmentConfig switched on, as the README's LP-FT rows ran (no rotation).
    return one_trial(task, data, root, plan, seed, converged=converged, augmentation=("flip", "crop", "color_jitter"))


# `--augment`: every augmentation a rule can ask for (the tutorial's four for small image sets).
AUGMENTATIONS: tuple[str, ...] = get_args(AugmentOp)


def one_trial(
    task: str,
    data: Path,
    root: Path,
    plan: Any,
    seed: int,
    converged: bool = True,
    augmentation: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """One trial of `plan` (a `TrialPlan`) as the search builds it, run whole and scored on test.

    `augmentation`: the image augmentations to switch on (default: all four, as the rule plan asks
    for small image sets); () for none.
    """
    import runners
    from advisor.auto.trial_specs import augment_for, trial_spec

    modality = modality_of(task)
    config = TuneConfig(
        data=data, out=root, backbone=BACKBONES[task], seed=seed, linear_probe_first=converged, batch_size=32
    )
    ops = (AUGMENTATIONS if augmentation is None else augmentation) if modality == "image" else ()
    spec = trial_spec(plan, config, BACKBONES[task], None, augment_for(ops)).model_copy(update={"evaluate_test": True})
    result = runners.get_runner(modality).run(spec)
    curve = " ".join(f"{m.val_accuracy:.3f}" for m in result.curve)
    return {"val": result.best_val_accuracy, "test": result.test_accuracy, "trials": 1, "curve": curve}


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


def read_text_split(data: Path, split: str) -> tuple[list[str], list[str]]:
    files = sorted((data / split).glob("*/*.txt"))
    return [f.read_text(encoding="utf-8") for f in files], [f.parent.name for f in files]


def tfidf_svm(data: Path) -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    (train_x, train_y), (val_x, val_y), (test_x, test_y) = (read_text_split(data, s) for s in ("train", "val", "test"))
    vectoriser = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1)
    model = LinearSVC(C=1.0).fit(vectoriser.fit_transform(train_x), train_y)
    val = float(np.mean(model.predict(vectoriser.transform(val_x)) == np.array(val_y)))
    test = float(np.mean(model.predict(vectoriser.transform(test_x)) == np.array(test_y)))
    return {"val": val, "test": test, "trials": 1}


def pixels_svm(data: Path) -> dict[str, Any]:
    """The five lines a practitioner writes for small images: an RBF SVM on 32×32 pixels (the pixel
    member's representation, standardised), C chosen on validation."""
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from runners.pixels import raw_pixels

    def read(split: str) -> tuple[np.ndarray, np.ndarray]:
        items = sorted((p.parent.name, p) for p in (data / split).glob("*/*") if p.is_file())
        return raw_pixels([str(p) for _, p in items]), np.array([label for label, _ in items])

    (train_x, train_y), (val_x, val_y), (test_x, test_y) = (read(s) for s in ("train", "val", "test"))
    scaler = StandardScaler().fit(train_x)
    train_x, val_x, test_x = (scaler.transform(x) for x in (train_x, val_x, test_x))
    scored = []
    for c in (1, 3, 10, 30):
        model = SVC(C=c).fit(train_x, train_y)
        scored.append((float(np.mean(model.predict(val_x) == val_y)), -c, model))
    val, minus_c, model = max(scored, key=lambda t: t[:2])
    test = float(np.mean(model.predict(test_x) == test_y))
    return {"val": val, "test": test, "trials": 1, "note": f"C={-minus_c}"}


def frozen_features(task: str, data: Path, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Pooled features of the frozen backbone for train/val/test, as the trials see them.

    The same weights, input preprocessing (no augmentation; 224 px for EfficientNet-Lite0, 128
    tokens for MiniLM) and pooling (timm's global pool; masked mean over tokens) as every other row:
    the runner builds the model and the input pipeline, and the frozen prefix runs up to the
    boundary below the head, as `Runner.frozen_pass` does.
    """
    import torch

    import runners
    from runners.backbones.registry import adapter_for
    from runners.data.splits import stratified_split
    from runners.training.sources import UncachedSource

    modality = modality_of(task)
    torch.manual_seed(seed)
    runner = runners.get_runner(modality)
    spec = runners.TrialSpec(
        modality=modality,
        backbone=BACKBONES[task],
        data=data,
        seed=seed,
        batch_size=32,
        augment=runners.AugmentConfig(enabled=False),
    )
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # as the other rows' device="auto"
    labelled = runner.load_data_cached(spec.source)
    split = stratified_split(labelled, spec.split_fractions, seed)  # pre-split folder: keeps its assignment
    bundle = runner.build(runners.resolve_backbone(spec.backbone, modality, spec.weights), split.class_names, {})
    adapter = adapter_for(bundle.model)
    bundle.model.to(device).eval()
    pipe = runner.pipeline(bundle, labelled, split, spec)
    out = {}
    with torch.no_grad():
        for name in ("train", "val", "test"):
            src = UncachedSource(pipe, adapter, name, adapter.n_blocks, False, spec.batch_size, device)
            batches = list(src.batches(torch.arange(pipe.size(name))))
            features = torch.cat([state[0].float().cpu() for state, _ in batches]).numpy()
            out[name] = features, torch.cat([y.cpu() for _, y in batches]).numpy()
    return out


def frozen_lr(task: str, data: Path, seed: int) -> dict[str, Any]:
    """Frozen features, standardised, + LogisticRegression; C from a log grid, chosen on validation."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    feats = frozen_features(task, data, seed)
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = feats["train"], feats["val"], feats["test"]
    best: tuple[float, float, Any] | None = None
    for c in np.logspace(-3, 3, 13):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000)).fit(train_x, train_y)
        val = float(np.mean(model.predict(val_x) == val_y))
        if best is None or val > best[0]:  # ties: the smaller (more regularised) C
            best = (val, float(c), model)
    assert best is not None
    val, c, model = best
    test = float(np.mean(model.predict(test_x) == test_y))
    return {"val": val, "test": test, "trials": 1, "note": f"C={c:.3g}"}


def setfit_row(task: str, data: Path, seed: int, workdir: Path) -> dict[str, Any]:
    """SetFit (Tunstall et al. 2022) with the paper's settings: 20 pair iterations, one body epoch.

    The sentence-transformers body is the packaged MiniLM-L6 folder (no download); the head
    is SetFit's default scikit-learn LogisticRegression. Runs whole (no wall clock).
    """
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    import runners

    body = next(e["weights_path"] for e in runners.offline_backbones("text") if e["name"] == BACKBONES[task])
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = (read_text_split(data, s) for s in ("train", "val", "test"))
    classes = sorted(set(train_y))
    model = SetFitModel.from_pretrained(body, labels=classes)
    args = TrainingArguments(
        output_dir=str(workdir),
        num_iterations=20,
        seed=seed,
        report_to="none",
        save_strategy="no",
        show_progress_bar=False,
    )
    train = Dataset.from_dict({"text": train_x, "label": [classes.index(y) for y in train_y]})
    Trainer(model=model, args=args, train_dataset=train).train()

    def accuracy(texts: list[str], truth: list[str]) -> float:
        predicted = model.predict(texts, show_progress_bar=False)
        return float(np.mean([str(p) == t for p, t in zip(predicted, truth, strict=True)]))

    return {"val": accuracy(val_x, val_y), "test": accuracy(test_x, test_y), "trials": 1}


def autogluon_row(task: str, data: Path, budget_s: float, seed: int, workdir: Path, python: str) -> dict[str, Any]:
    """AutoGluon's `MultiModalPredictor` with the task's backbone from local weights and `time_limit`
    the budget, run by `bench/autogluon_row.py` under `python` (AutoGluon's own environment; its
    log goes to `workdir/autogluon.log`). The row's seconds include that interpreter's start."""
    import runners

    workdir.mkdir(parents=True, exist_ok=True)
    choice = runners.resolve_backbone(BACKBONES[task], modality_of(task), None)
    if modality_of(task) == "text":
        checkpoint = Path(str(choice.weights_path))
    else:  # timm's own checkpoint format, which AutoGluon reads from a folder
        import torch

        from runners.backbones.build import build_timm

        model, _ = build_timm(choice, 0, {})
        checkpoint = workdir / "backbone"
        checkpoint.mkdir(exist_ok=True)
        torch.save(model.state_dict(), checkpoint / "pytorch_model.bin")
        keys = ("input_size", "mean", "std", "interpolation", "crop_pct")
        cfg = {"architecture": choice.architecture, "num_features": model.num_features}
        cfg["pretrained_cfg"] = {k: model.pretrained_cfg[k] for k in keys}
        (checkpoint / "config.json").write_text(json.dumps(cfg))
    command = [python, str(Path(__file__).with_name("autogluon_row.py")), "--data", str(data)]
    command += ["--modality", modality_of(task), "--checkpoint", str(checkpoint), "--time-limit", str(budget_s)]
    command += ["--seed", str(seed), "--workdir", str(workdir / "predictor")]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # AutoGluon's packages, not ours
    with (workdir / "autogluon.log").open("w") as log:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=log, text=True, env=env, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        print(f"AutoGluon exited {done.returncode}; its log: {workdir / 'autogluon.log'}", file=sys.stderr)
        return {"val": None, "test": None, "trials": 0, "note": f"failed, exit {done.returncode}"}
    return dict(json.loads(lines[-1]))


def search(data: Path, out: Path, task: str, budget_minutes: float, seed: int, **settings: Any) -> dict[str, Any]:
    config = TuneConfig(
        data=data,
        out=out,
        backbone=BACKBONES[task],
        budget_minutes=budget_minutes,
        seed=seed,
        **{"max_epochs_per_stage": 8, **settings},  # an `--auto-setting` may override the cap
    )
    report = run_search(config)
    best = report.best
    return {
        "val": best.value if best else None,
        "test": report.test_accuracy,
        "trials": report.n_trials,
        "pruned": report.n_pruned,
    }


def parse_setting(text: str) -> tuple[str, Any]:
    """KEY=VALUE with VALUE read as JSON, then as a Python literal, else kept as a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    for parse in (json.loads, ast.literal_eval):
        try:
            return key.strip(), parse(raw)
        except (ValueError, SyntaxError):
            continue
    return key.strip(), raw


def parse_plan(text: str) -> Any:
    """A `TrialPlan` from JSON (the search space's parameter names)."""
    from pydantic import ValidationError

    from advisor.auto.space import TrialPlan

    try:
        return TrialPlan.model_validate_json(text)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(f"not a TrialPlan: {exc}") from None


def build_rows(args: argparse.Namespace, data: Path, root: Path) -> dict[str, Callable[[], dict[str, Any]]]:
    import runners

    task, seed, budget_s = args.task, args.seed, args.budget_minutes * 60
    n_blocks = runners.n_blocks(BACKBONES[task], modality_of(task))  # also loads torch & co. before any row
    rows: dict[str, Callable[[], dict[str, Any]]] = {
        name: (lambda s=stages: fixed_recipe(task, data, s, budget_s, seed))
        for name, stages in recipes(n_blocks).items()
    }
    rows["Optuna TPE, no pruning, no cache"] = lambda: search(
        data,
        root / "tpe",
        task,
        args.budget_minutes,
        seed,
        pruner="none",
        cache=False,
        enqueue_rule_plan=False,
        refit=False,
        ensemble=False,
    )
    rows[FROZEN_LR] = lambda: frozen_lr(task, data, seed)
    rows[LP_FT] = lambda: head_start(task, data, root / "lpft", n_blocks, seed, converged=True)
    rows[RANDOM_HEAD] = lambda: head_start(task, data, root / "random-head", n_blocks, seed, converged=False)
    if modality_of(task) == "image":
        rows[PIXELS_SVM] = lambda: pixels_svm(data)
    if modality_of(task) == "text":
        rows["TF-IDF + linear SVM"] = lambda: tfidf_svm(data)
        rows[SETFIT] = lambda: setfit_row(task, data, seed, root / "setfit")
    if args.autogluon_python:
        rows[AUTOGLUON] = lambda: autogluon_row(task, data, budget_s, seed, root / "autogluon", args.autogluon_python)
    for plan in args.plan or []:
        ops = None if args.augment is None else tuple(op for op in args.augment.split(",") if op and op != "none")
        name = f"{ONE_TRIAL}{plan.model_dump(exclude_none=True)}" + (
            f", augment {args.augment}" if ops is not None else ""
        )
        rows[name] = lambda p=plan, a=ops: one_trial(task, data, root / "one-trial", p, seed, augmentation=a)
    auto_settings = dict(args.auto_setting or [])
    auto_name = "advisor auto" + (
        f" ({', '.join(f'{k}={v}' for k, v in auto_settings.items())})" if auto_settings else ""
    )
    rows[auto_name] = lambda: search(data, root / "auto", task, args.budget_minutes, seed, **auto_settings)
    return rows


def accuracy_with_error(accuracy: float | None, n_test: int) -> str:
    """Test accuracy with its binomial standard error over the test examples (sqrt(p(1 - p) / n)): rows on
    the same split differ by less than the test split can tell apart when their gap is within about two."""
    if accuracy is None:
        return "—"
    return f"{accuracy:.4f} ± {math.sqrt(accuracy * (1 - accuracy) / n_test):.3f}"


def table_line(name: str, outcome: dict[str, Any], seconds: float, budget_s: float, n_test: int) -> str:
    fmt = lambda v: "—" if v is None else f"{v:.4f}"  # noqa: E731
    trials = str(outcome["trials"]) + (f" ({outcome['pruned']} pruned)" if outcome.get("pruned") else "")
    budgeted = name not in UNBUDGETED and not name.startswith(ONE_TRIAL)
    if "note" in outcome:
        name = f"{name}, {outcome['note']}"
    if not budgeted:
        budget, overshoot, flag = "—", "—", "run whole, not cut"
    else:
        over = seconds / budget_s - 1
        budget, overshoot, flag = f"{budget_s:.0f}", f"{100 * over:+.1f}%", "overran" if over > OVERRUN else ""
    return (
        f"| {name} | {fmt(outcome['val'])} | {accuracy_with_error(outcome['test'], n_test)} | {trials} "
        f"| {seconds:.0f} | {budget} | {overshoot} | {flag} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(BACKBONES), default="bbc20")
    parser.add_argument("--budget-minutes", type=float, default=3.0)
    parser.add_argument("--limit", type=int, default=None, help="ELPV: stratified subset size (default: all images)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="an already written pre-split folder of the task (train/val/test/<class>/...) instead of writing it",
    )
    parser.add_argument("--rows", nargs="*", default=None, help="substrings of row names to run (default: all)")
    parser.add_argument("--keep", action="store_true", help="keep the rows' output folders (reports, models)")
    parser.add_argument(
        "--autogluon-python",
        default=None,
        metavar="PYTHON",
        help="the interpreter of an environment with autogluon.multimodal: adds its row "
        "(`bench/autogluon_row.py` says how to make one)",
    )
    parser.add_argument(
        "--auto-setting",
        type=parse_setting,
        action="append",
        metavar="KEY=VALUE",
        help="extra TuneConfig setting for the `advisor auto` row only (repeatable; VALUE as JSON)",
    )
    parser.add_argument(
        "--plan",
        type=parse_plan,
        action="append",
        metavar="JSON",
        help="a row that runs one trial of this TrialPlan whole (repeatable), e.g. "
        '\'{"trainable_blocks": 5, "head_c": 0.01, "lr_head": 1e-3, "lr_backbone": 1e-4, "tune_epochs": 6}\'',
    )
    parser.add_argument(
        "--augment",
        default=None,
        metavar="OPS",
        help="images, --plan rows: the augmentations to switch on, comma-separated from "
        f"{','.join(AUGMENTATIONS)}, or 'none' (default: all four, as the rule plan)",
    )
    args = parser.parse_args()
    unknown = [op for op in (args.augment or "").split(",") if op and op not in (*AUGMENTATIONS, "none")]
    if unknown:
        parser.error(f"--augment: unknown augmentation(s) {unknown}; choose from {', '.join(AUGMENTATIONS)}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import torch

    root = Path(tempfile.mkdtemp(prefix=f"bench-{args.task}-"))
    data = args.data if args.data is not None else write_task(args.task, root / "data", args.limit, args.seed)
    budget_s = args.budget_minutes * 60
    results = []
    for name, run in build_rows(args, data, root).items():
        if args.rows and not any(part in name for part in args.rows):
            continue
        start = time.perf_counter()
        outcome = run()
        results.append((name, outcome, time.perf_counter() - start))
        print(f"{name}: {outcome} ({results[-1][2]:.0f} s)", flush=True)
    sizes = {
        s: sum(1 for p in (data / s).rglob("*") if p.is_file() or p.is_symlink()) for s in ("train", "val", "test")
    }
    print(
        f"\n{args.task} (train/val/test {sizes['train']}/{sizes['val']}/{sizes['test']}), budget "
        f"{args.budget_minutes:g} min per row, backbone {BACKBONES[args.task]}, seed {args.seed}, "
        f"{os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads\n"
    )
    print("| row | val acc | test acc ± SE | trials | seconds | budget s | overshoot | |")
    print("|---|---|---|---|---|---|---|---|")
    for name, outcome, seconds in results:
        print(table_line(name, outcome, seconds, budget_s, sizes["test"]))
    if args.keep:
        print(f"\nOutputs kept under {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
