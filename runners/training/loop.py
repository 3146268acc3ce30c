"""The stage/epoch loop: progressive unfreezing, early stopping, divergence and callback handling.

Callback design: the callback may raise anything. The loop catches it, ends the trial with status
"stopped", keeps the best weights so far, and stores the exception in `LoopOutcome.stop_exception`
(surfaced as `TrialResult.stop_exception`) so a caller such as an optuna objective can re-raise
`optuna.TrialPruned` itself. Catching keeps clean-up (best weights, export, cache) in one place.
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
from runners.specs import EpochMetrics, TrialSpec
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


def class_weights(labels: torch.Tensor, n_classes: int, mode: str) -> torch.Tensor | None:
    """Inverse-frequency weights; "auto" turns them on when the largest class is >1.5x the smallest."""
    counts = torch.bincount(labels, minlength=n_classes).float().clamp_min(1)
    if mode == "off" or (mode == "auto" and counts.max() / counts.min() <= 1.5):
        return None
    return counts.sum() / (n_classes * counts)


def evaluate(adapter: BlockAdapter, source, n: int, boundary: int, loss_fn, device) -> tuple[float, float, float, list]:
    """Mean loss, accuracy, macro-F1 and predicted probabilities over a split, in eval mode."""
    adapter.model.eval()
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


def _source(pipeline, adapter, split, boundary, augment, spec: TrialSpec, device, cache: ActivationCache | None):
    if cache is not None and boundary > 0:
        return CachedSource(
            pipeline, adapter, split, boundary, augment, spec.batch_size, device, cache, spec.cache.n_views, spec.seed
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
) -> LoopOutcome:
    """Runs every stage of `spec`, leaving the model with the best (lowest val loss) weights."""
    out = LoopOutcome()
    n_train, n_val = pipeline.size("train"), pipeline.size("val")
    weights = class_weights(pipeline.labels("train"), n_classes, spec.class_weights)
    loss_fn = torch.nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device))
    best_loss, best_state = math.inf, None
    for stage_idx, stage in enumerate(spec.stages):
        b = adapter.set_trainable(stage.trainable_blocks)
        train_src = _source(pipeline, adapter, "train", b, spec.augment.enabled, spec, device, cache)
        val_src = _source(pipeline, adapter, "val", b, False, spec, device, cache)
        out.cache_hits += sum(getattr(s, "cache_hit", False) for s in (train_src, val_src))
        optimizer = torch.optim.AdamW(
            param_groups(adapter, b, stage, spec.weight_decay), weight_decay=spec.weight_decay
        )
        steps = stage.epochs * math.ceil(n_train / spec.batch_size)
        scheduler, per_batch = make_scheduler(optimizer, spec.scheduler, steps, spec.warmup_fraction)
        stale = 0
        for epoch in range(stage.epochs):
            start = time.perf_counter()
            adapter.train_mode(True, b)
            g = torch.Generator().manual_seed(spec.seed * 100003 + stage_idx * 1009 + epoch)
            batches = train_src.batches(torch.randperm(n_train, generator=g), epoch)
            trained = _train_epoch(adapter, batches, b, loss_fn, optimizer, scheduler if per_batch else None, device)
            if trained is None:
                out.status, out.error = "diverged", f"non-finite training loss at stage {stage_idx} epoch {epoch}"
                return _finish(adapter, out, best_state)
            train_loss, train_acc = trained
            lr = optimizer.param_groups[0]["lr"]
            val_loss, acc, f1, _ = evaluate(adapter, val_src, n_val, b, loss_fn, device)
            if not math.isfinite(val_loss):
                out.status, out.error = "diverged", f"non-finite validation loss at stage {stage_idx} epoch {epoch}"
                return _finish(adapter, out, best_state)
            if scheduler is not None and not per_batch:
                scheduler.step(val_loss)  # type: ignore[arg-type]  # ReduceLROnPlateau takes the metric
            metrics = EpochMetrics(
                stage=stage_idx,
                epoch=epoch,
                train_loss=train_loss,
                train_accuracy=train_acc,
                val_loss=val_loss,
                val_accuracy=acc,
                val_macro_f1=f1,
                seconds=time.perf_counter() - start,
                lr=lr,
            )
            out.curve.append(metrics)
            if val_loss < best_loss:
                best_loss, out.best, stale = val_loss, metrics, 0
                best_state = copy.deepcopy(adapter.model.state_dict())
            else:
                stale += 1
            if callback is not None:
                try:
                    callback(metrics)
                except Exception as exc:  # noqa: BLE001 - any callback exception stops the trial
                    out.status, out.error, out.stop_exception = "stopped", f"{type(exc).__name__}: {exc}", exc
                    return _finish(adapter, out, best_state)
            if spec.early_stopping_patience is not None and stale >= spec.early_stopping_patience:
                break
        if best_state is not None:
            adapter.model.load_state_dict(best_state)
    return _finish(adapter, out, best_state)


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
