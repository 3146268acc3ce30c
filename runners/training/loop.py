"""The stage/epoch loop: progressive unfreezing, early stopping, divergence and callback handling.

Callback design: a callback ends the trial early by raising `runners.errors.StopTrial` (or a
subclass). The loop catches it, ends the trial with status "stopped", keeps the best weights so far,
and stores the exception in `LoopOutcome.stop_exception` (surfaced as `TrialResult.stop_exception`)
so a caller such as an optuna objective can turn its own stop signal back into `optuna.TrialPruned`.
Any other exception from the callback is a bug, not a stop: the trial ends "failed" with the
traceback as its error. KeyboardInterrupt is not caught: it ends the whole run. Catching keeps
clean-up (best weights, export, cache) in one place.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.metrics import f1_score

from runners.backbones._base import BlockAdapter
from runners.cache import ActivationCache
from runners.errors import StopTrial, failure_text
from runners.specs import CLASS_WEIGHT_RATIO, MONITORS, EpochMetrics, TrialSpec
from runners.training.head import (
    HeadScore,
    NystromMap,
    cross_validate_head,
    fit_linear_head,
    fit_nystrom,
    load_into,
    rbf_head,
    replace_module,
)
from runners.training.optim import make_scheduler, param_groups
from runners.training.sources import CachedSource, InputPipeline, UncachedSource, autocast


@dataclass
class LoopOutcome:
    """What the loop produced; the runner turns it into a TrialResult."""

    status: str = "complete"
    curve: list[EpochMetrics] = field(default_factory=list)
    best: EpochMetrics | None = None
    error: str | None = None
    stop_exception: BaseException | None = None
    cache_hits: int = 0
    stage_seconds: list[float] = field(default_factory=list)
    best_val_probs: torch.Tensor | None = None
    cv: HeadScore | None = None
    fill_seconds_per_example: float | None = None
    fill_boundary: int | None = None
    fill_seconds: float = 0.0
    skipped_stages: int = 0


def class_weights(labels: torch.Tensor, n_classes: int, mode: str) -> torch.Tensor | None:
    """Inverse-frequency weights; "auto" turns them on when the largest class is >CLASS_WEIGHT_RATIO× the smallest."""
    counts = torch.bincount(labels, minlength=n_classes).float().clamp_min(1)
    if mode == "off" or (mode == "auto" and counts.max() / counts.min() <= CLASS_WEIGHT_RATIO):
        return None
    return counts.sum() / (n_classes * counts)


def evaluate(
    adapter: BlockAdapter, source, n: int, boundary: int, loss_fn, device, views: int = 1
) -> tuple[float, float, float, list]:
    """Mean loss, accuracy, macro-F1 and predicted probabilities over a split, in eval mode.

    With `views` > 1 every example is scored on its probabilities averaged over its dihedral views
    (`source.view_batches`), and the loss is the (class-weighted) negative log of that average.
    """
    adapter.model.eval()
    if views > 1:
        return _evaluate_views(adapter, source, n, boundary, loss_fn, device, views)
    losses, preds, ys, probs = [], [], [], []
    with torch.no_grad(), autocast(device):
        for state, y in source.batches(torch.arange(n)):
            logits = adapter.forward_from(state, boundary).float()
            losses.append(loss_fn(logits, y).item() * len(y))
            probs.append(logits.softmax(-1).cpu())
            preds.append(logits.argmax(-1).cpu())
            ys.append(y.cpu())
    p, t = torch.cat(preds).numpy(), torch.cat(ys).numpy()
    return sum(losses) / n, float((p == t).mean()), float(f1_score(t, p, average="macro", zero_division=0)), probs


def _evaluate_views(adapter: BlockAdapter, source, n: int, boundary: int, loss_fn, device, views: int) -> tuple:
    per_view, truth = [], torch.zeros(0, dtype=torch.long)
    with torch.no_grad(), autocast(device):
        for view in range(views):
            chunks, labels = [], []
            for state, y in source.view_batches(torch.arange(n), view):
                chunks.append(adapter.forward_from(state, boundary).float().softmax(-1).cpu())
                labels.append(y.cpu())
            per_view.append(torch.cat(chunks))
            truth = torch.cat(labels)
    probs = torch.stack(per_view).mean(0)
    weight = None if loss_fn.weight is None else loss_fn.weight.float().cpu()
    loss = float(torch.nn.functional.nll_loss(probs.clamp_min(1e-15).log(), truth, weight=weight))
    p, t = probs.argmax(-1).numpy(), truth.numpy()
    return loss, float((p == t).mean()), float(f1_score(t, p, average="macro", zero_division=0)), [probs]


def _source(pipeline, adapter, split, boundary, augment, spec: TrialSpec, device, cache: ActivationCache | None):
    if cache is not None and boundary > 0:
        return CachedSource(
            pipeline,
            adapter,
            split,
            boundary,
            augment,
            spec.batch_size,
            device,
            cache,
            spec.cache.n_views,
            spec.seed,
            dihedral=spec.dihedral_views,
        )
    return UncachedSource(pipeline, adapter, split, boundary, augment, spec.batch_size, device)


def train(
    adapter: BlockAdapter,
    pipeline: InputPipeline,
    spec: TrialSpec,
    n_classes: int,
    device: torch.device,
    cache: ActivationCache | None,
    callback: Callable[[EpochMetrics], None] | None,
    head_on_train_and_val: bool = False,
) -> LoopOutcome:
    """Runs every stage of `spec`, leaving the model with the best weights by `spec.monitor`.

    A converged-head stage (`StageSpec.converged_head`) is one step: the head is fitted on the
    frozen features and validated once; later stages start from that head (linear probe, then
    fine-tune: Kumar et al., ICLR 2022).

    `head_on_train_and_val`: converged heads are fitted on the training and the validation
    examples' features (a head-only refit that reads both from the cache instead of a new pass).
    With `spec.train_on_val` (a refit, its epochs fixed by the search) the last epoch is kept: its
    validation metrics are training metrics.
    """
    out = LoopOutcome()
    n_train, n_val = pipeline.size("train"), pipeline.size("val")
    fitted_on = [pipeline.labels("train")] + ([pipeline.labels("val")] if head_on_train_and_val else [])
    weights = class_weights(torch.cat(fitted_on), n_classes, spec.class_weights)
    loss_fn = torch.nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device))
    rank, best_state = MONITORS[spec.monitor], None
    for stage_idx, stage in enumerate(spec.stages):
        if stage_idx >= 2 and spec.min_stage_gain is not None and _last_gain(out.curve) < spec.min_stage_gain:
            out.skipped_stages = len(spec.stages) - stage_idx
            break
        stage_start = time.perf_counter()
        b = adapter.set_trainable(stage.trainable_blocks)
        # A converged head is fitted on clean features only; augmented views feed fine-tuning epochs.
        augment = spec.augment.enabled and not stage.converged_head
        train_src, val_src = _stage_sources(adapter, pipeline, spec, b, device, cache, out, augment)
        # The head's rows are gathered once per stage: the fit and its cross-validation share them.
        rows, kernel = (
            _head_inputs(
                adapter,
                pipeline,
                spec,
                stage,
                (train_src, val_src if head_on_train_and_val else None),
                n_classes,
                device,
            )
            if stage.converged_head
            else (None, None)
        )
        steps = (
            _head_fit_steps(stage, rows, n_classes, weights, device, adapter, kernel)
            if stage.converged_head
            else _epoch_steps(adapter, stage, stage_idx, spec, train_src, n_train, b, loss_fn, device)
        )
        stale, stage_best = 0, None  # patience counts from this stage's best, as a new Keras `fit` does
        for trained in steps:
            if isinstance(trained, str):  # a non-finite training loss
                out.status, out.error = "diverged", f"{trained} at stage {stage_idx}"
                break
            epoch, train_loss, train_acc, lr, started, scheduler = trained
            val_loss, acc, f1, probs = evaluate(adapter, val_src, n_val, b, loss_fn, device, spec.dihedral_views)
            if not math.isfinite(val_loss):
                out.status, out.error = "diverged", f"non-finite validation loss at stage {stage_idx} epoch {epoch}"
                break
            if scheduler is not None:
                scheduler.step(val_loss)  # ReduceLROnPlateau takes the metric
            metrics = EpochMetrics(
                stage=stage_idx,
                epoch=epoch,
                train_loss=train_loss,
                train_accuracy=train_acc,
                val_loss=val_loss,
                val_accuracy=acc,
                val_macro_f1=f1,
                seconds=time.perf_counter() - started,
                lr=lr,
            )
            out.curve.append(metrics)
            best_state = _keep(adapter, out, metrics, probs, best_state, rank, spec.train_on_val)
            if stage_best is None or rank(metrics) < stage_best:
                stage_best, stale = rank(metrics), 0
            else:
                stale += 1
            if stage.converged_head and stage_idx == 0 and spec.head_cv_folds:
                out.cv = _cross_validate(adapter, pipeline, spec, stage, rows, val_src, n_classes, weights, kernel)
            if not _call(callback, metrics, out):
                break
            patience = _first_set(stage.early_stopping_patience, spec.early_stopping_patience)
            if patience is not None and stale >= patience:
                break
        out.stage_seconds.append(time.perf_counter() - stage_start)
        if out.status != "complete":
            break
        _restore(adapter, best_state)  # the next stage starts from this one's best weights
    return _finish(adapter, out, best_state)


def _keep(adapter: BlockAdapter, out: LoopOutcome, metrics: EpochMetrics, probs, best_state, rank, last: bool):
    """Keeps this epoch's weights when `rank` puts it before the best so far (always with `last`);
    returns the kept weights."""
    if out.best is not None and not last and rank(metrics) >= rank(out.best):
        return best_state
    out.best, out.best_val_probs = metrics, torch.cat(probs) if probs else None
    return copy.deepcopy(adapter.model.state_dict())


def _restore(adapter: BlockAdapter, state: dict[str, torch.Tensor] | None) -> None:
    if state is not None:
        adapter.model.load_state_dict(state)


def _last_gain(curve: list[EpochMetrics]) -> float:
    """Validation accuracy the last stage run added over the best of the stages before it (-inf if unknown)."""
    last = curve[-1].stage if curve else None
    before = [m.val_accuracy for m in curve if m.stage != last and math.isfinite(m.val_accuracy)]
    during = [m.val_accuracy for m in curve if m.stage == last and math.isfinite(m.val_accuracy)]
    if not before or not during:
        return -math.inf
    return max(during) - max(before)


def _call(callback: Callable[[EpochMetrics], None] | None, metrics: EpochMetrics, out: LoopOutcome) -> bool:
    """Runs the per-epoch callback; False when it raised: status "stopped" for `StopTrial`, else "failed"."""
    if callback is None:
        return True
    try:
        callback(metrics)
    except StopTrial as exc:
        out.status, out.error, out.stop_exception = "stopped", f"{type(exc).__name__}: {exc}", exc
        return False
    except Exception as exc:  # noqa: BLE001 - a bug in the callback fails the trial, with its traceback
        out.status, out.error = "failed", failure_text(exc)
        return False
    return True


def _stage_sources(adapter, pipeline, spec: TrialSpec, b: int, device, cache, out: LoopOutcome, augment: bool) -> tuple:
    """Train (augmented views when `augment`) and validation sources at boundary `b`; notes cache hits
    and, when it filled the cache, its seconds per example and `b`: the inputs and the blocks below
    `b` (what share of a whole pass that is, the caller prices with its own measured block shares)."""
    start = time.perf_counter()
    train_src = _source(pipeline, adapter, "train", b, augment, spec, device, cache)
    val_src = _source(pipeline, adapter, "val", b, False, spec, device, cache)
    out.cache_hits += sum(getattr(s, "cache_hit", False) for s in (train_src, val_src))
    filled = [s.computed for s in (train_src, val_src) if getattr(s, "computed", 0)]
    if filled and b > 0:
        elapsed = time.perf_counter() - start
        out.fill_seconds += elapsed
        out.fill_seconds_per_example, out.fill_boundary = elapsed / sum(filled), b
    return train_src, val_src


def _epoch_steps(adapter, stage, stage_idx: int, spec: TrialSpec, train_src, n_train: int, b: int, loss_fn, device):
    """Yields one training epoch at a time: (epoch, loss, accuracy, lr, start time, plateau scheduler) or an error."""
    decay = _first_set(stage.weight_decay, spec.weight_decay)
    optimizer = torch.optim.AdamW(param_groups(adapter, b, stage, decay), weight_decay=decay)
    steps = stage.epochs * math.ceil(n_train / spec.batch_size)
    scheduler, per_batch = make_scheduler(
        optimizer, stage.scheduler or spec.scheduler, steps, _first_set(stage.warmup_fraction, spec.warmup_fraction)
    )
    for epoch in range(stage.epochs):
        start = time.perf_counter()
        adapter.train_mode(True, b, spec.freeze_batchnorm and spec.weights != "none")
        g = torch.Generator().manual_seed(spec.seed * 100003 + stage_idx * 1009 + epoch)
        batches = train_src.batches(torch.randperm(n_train, generator=g), epoch)
        trained = _train_epoch(adapter, batches, b, loss_fn, optimizer, scheduler if per_batch else None, device)
        if trained is None:
            yield f"non-finite training loss at epoch {epoch}"
            return
        lr = optimizer.param_groups[0]["lr"]
        yield epoch, trained[0], trained[1], lr, start, None if per_batch else scheduler


def _first_set(stage_value, trial_value):
    """A stage's own setting when it has one, else the trial's."""
    return trial_value if stage_value is None else stage_value


def _features(adapter: BlockAdapter, source, n: int, views: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every row of what the head reads a source holds at the top boundary: (features, row → example
    index), view by view. A cached source gives all the views it cached; an uncached one computes
    `views` dihedral views.
    """
    if hasattr(source, "tensors"):  # CachedSource: all cached views, stacked view by view
        feats = adapter.head_input(source.tensors)
        return feats.float(), torch.arange(len(feats)) % n
    batches = (s for v in range(views) for s, _ in source.view_batches(torch.arange(n), v))
    chunks = [adapter.head_input(s).float().cpu() for s in batches]
    return torch.cat(chunks), torch.arange(n * views) % n


def _head_rows(adapter, pipeline, train_src, val_src=None, views: int = 1) -> tuple[torch.Tensor, ...]:
    """Training rows of a converged head: (features, row → example, row is un-augmented, labels per example).

    The rows are the clean features of the training examples, or with `views` > 1 those of each of
    their dihedral views (`TrialSpec.dihedral_views`). Random augmented views are not worth their
    pass here: on ELPV (2 CPU cores) the views at full depth cost 214 s of a 600 s budget against
    ~70 s for the clean pass, and a head fitted on views was measured below a clean fit (0.855
    against 0.875 validation accuracy, H200). Fine-tuning epochs still train on the views.
    With `val_src`, the validation examples' rows join them (numbered after the training ones).
    """
    n_train = pipeline.size("train")
    rows, example = _features(adapter, train_src, n_train, views)
    labels = pipeline.labels("train")
    if val_src is not None:
        val_rows, val_example = _features(adapter, val_src, pipeline.size("val"), views)
        rows, example = torch.cat([rows, val_rows.to(rows)]), torch.cat([example, n_train + val_example])
        labels = torch.cat([labels, pipeline.labels("val")])
    return rows, example, torch.ones(len(rows), dtype=torch.bool), labels


def _head_inputs(adapter, pipeline, spec: TrialSpec, stage, sources: tuple, n_classes: int, device) -> tuple:
    """A converged head's training rows (`_head_rows`), and the Nyström map of an RBF head (None for a
    linear one): with it, the model's classifier is replaced by the RBF head and the rows are mapped."""
    train_src, val_src = sources
    rows = _head_rows(adapter, pipeline, train_src, val_src, spec.dihedral_views)
    if stage.head_kernel != "rbf":
        return rows, None
    kernel = _install_rbf_head(adapter, rows[0], n_classes, spec.seed, device)
    return (kernel.map(rows[0]), *rows[1:]), kernel


def _install_rbf_head(adapter: BlockAdapter, rows: torch.Tensor, n_classes: int, seed: int, device) -> NystromMap:
    """Fits the Nyström map on the head's training rows and puts an RBF head where the model's classifier was."""
    kernel = fit_nystrom(rows, seed)
    head = rbf_head(rows.shape[1], kernel.features.landmarks.shape[0], n_classes)
    head[0].load_state_dict(kernel.features.state_dict())
    replace_module(adapter.model, adapter.head(), head.to(device))
    return kernel


def _head_fit_steps(stage, head_rows: tuple | None, n_classes: int, weights, device, adapter, kernel=None):
    """Fits the head to convergence on the clean training features (their kernel values when `kernel`
    is given: the rows are mapped already, and the fit is folded into the RBF head): one step."""
    start = time.perf_counter()
    assert head_rows is not None
    rows, example, _, example_labels = head_rows
    labels = example_labels[example]
    sample_weight = None if weights is None else weights.cpu()[labels]
    fit = fit_linear_head(rows.to(device), labels.to(device), n_classes, stage.head_c, sample_weight)
    load_into(adapter.head(), fit if kernel is None else kernel.fold(fit))
    adapter.model.eval()
    with torch.no_grad():
        logits = (rows.to(device, fit.weight.dtype) @ fit.weight.T.to(device) + fit.bias.to(device)).float()
        ce = torch.nn.functional.cross_entropy(logits, labels.to(device), reduction="none")
        w = torch.ones_like(ce) if sample_weight is None else sample_weight.to(ce)
        loss = float((w * ce).sum() / w.sum())
        acc = float((logits.argmax(-1).cpu() == labels).double().mean())
    if not math.isfinite(loss):
        yield "non-finite training loss in the head fit"
        return
    yield 0, loss, acc, 0.0, start, None


def _cross_validate(
    adapter, pipeline, spec: TrialSpec, stage, head_rows: tuple | None, val_src, n_classes, weights, kernel
):
    """k-fold accuracy of the converged head over train + validation examples, each scored on its
    clean features (or on the mean of its dihedral views' probabilities, as validation scores it).
    With `kernel` the head's rows are kernel values already, and the validation rows are mapped alike."""
    n_train, n_val = pipeline.size("train"), pipeline.size("val")
    assert head_rows is not None
    rows, example, clean, _ = head_rows
    val_rows, val_example = _features(adapter, val_src, n_val, spec.dihedral_views)
    if kernel is not None:
        val_rows = kernel.map(val_rows)
    return cross_validate_head(
        rows=torch.cat([rows.cpu(), val_rows.cpu()]),
        row_example=torch.cat([example, n_train + val_example]),
        labels=torch.cat([pipeline.labels("train"), pipeline.labels("val")]),
        n_classes=n_classes,
        c=stage.head_c,
        folds=spec.head_cv_folds or 5,
        seed=spec.seed,
        class_weight=weights,
        scored=torch.cat([clean, torch.ones(len(val_rows), dtype=torch.bool)]),
    )


def _train_epoch(
    adapter: BlockAdapter, batches, boundary: int, loss_fn, optimizer, scheduler, device
) -> tuple[float, float] | None:
    """One pass over the training batches; returns (mean loss, accuracy), or None when a loss is not finite."""
    total, count, correct = 0.0, 0, 0
    for state, y in batches:
        with autocast(device):
            logits = adapter.forward_from(state, boundary).float()
            loss = loss_fn(logits, y)
        if not torch.isfinite(loss):
            return None
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total, count = total + loss.item() * len(y), count + len(y)
        correct += int((logits.argmax(-1) == y).sum())
    return total / max(count, 1), correct / max(count, 1)


def _finish(adapter: BlockAdapter, out: LoopOutcome, best_state: dict | None) -> LoopOutcome:
    if best_state is not None:
        adapter.model.load_state_dict(best_state)
    adapter.model.eval()
    return out


def seed_everything(seed: int) -> None:
    """Seeds torch and numpy so a trial is reproducible on CPU."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
