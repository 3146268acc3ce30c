"""Shared `Runner.run` flow: load data, split, build backbone, train stages, evaluate, export."""

from __future__ import annotations

import dataclasses
import logging
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from runners.backbones._base import BlockAdapter
from runners.backbones.registry import adapter_for
from runners.backbones.resolve import resolve_backbone
from runners.cache import ActivationCache, shared_cache
from runners.data import LabelledData
from runners.data.splits import Split, stratified_split
from runners.device import pick_device
from runners.drift import DriftMeter
from runners.errors import BackboneError, RunnerError, failure_text
from runners.specs import (
    POOLED_FEATURES,
    Confusion,
    DataSource,
    EpochMetrics,
    HeadFeatures,
    ResolvedBackbone,
    TrialResult,
    TrialSpec,
)
from runners.training.loop import evaluate, seed_everything, train
from runners.training.sources import UncachedSource, autocast

log = logging.getLogger(__name__)

# `score_saved` predicts this many examples at a time between progress reports (the predictor batches within).
SCORE_CHUNK = 256


@dataclass
class FrozenFeatures:
    """What one frozen pass over some examples measured.

    Attributes:
        features: (n, d) pooled features, float32.
        block_drift: Per block, the mean BatchNorm drift of its layers (None for blocks without
            BatchNorm); None when the backbone has no BatchNorm at all (transformers).
        backbone: The backbone actually used.
        seconds: Wall time of the pass, model build included.
        n_blocks: Blocks of the backbone as the runners count them.
        n_params: Parameters of the backbone (head included).
        layer_drift: BatchNorm drift of every layer, bottom to top.
        drift_examples: Examples the drift was measured on (0 without BatchNorm).
        inputs, labels: The examples measured, when the pass chose them (`Runner.frozen_pass`).
        block_seconds: Seconds per example each block took on one batch, bottom to top, when the
            pass timed them (`Runner.frozen_pass`): what the blocks above a boundary cost. Uneven:
            EfficientNet-Lite0's top 2 of 8 blocks take 9% of its blocks' time at 224 px.
        input_seconds: Seconds per example reading and preparing that batch's inputs (decoding,
            transforms, tokenising), timed with it.
    """

    features: np.ndarray
    block_drift: list[float | None] | None
    backbone: ResolvedBackbone
    seconds: float
    n_blocks: int
    n_params: int = 0
    layer_drift: list[float] = field(default_factory=list)
    drift_examples: int = 0
    inputs: list[Any] | None = None
    labels: list[str] | None = None
    block_seconds: list[float] | None = None
    input_seconds: float | None = None


def _frozen_result(
    features: np.ndarray,
    meter: DriftMeter,
    choice: ResolvedBackbone,
    model: torch.nn.Module,
    adapter: BlockAdapter,
    start: float,
    **examples: Any,
) -> FrozenFeatures:
    return FrozenFeatures(
        features=features,
        block_drift=meter.block_drift(),
        backbone=choice,
        seconds=time.perf_counter() - start,
        n_blocks=adapter.n_blocks,
        n_params=sum(p.numel() for p in model.parameters()),
        layer_drift=meter.layer_drift(),
        drift_examples=meter.examples,
        **examples,
    )


def _time_blocks(
    pipe: Any, adapter: BlockAdapter, split: str, batch_size: int, device: torch.device
) -> tuple[float, list[float]]:
    """Seconds per example of one clean batch of `split`: reading and preparing its inputs, then each
    block as the trials' frozen prefix runs them (the second of two runs: the first warms them up)."""
    order = list(range(min(batch_size, pipe.size(split))))
    for _ in range(2):
        start = time.perf_counter()
        state, _ = next(iter(pipe.loader(split, order, False, batch_size)))
        state = tuple(t.to(device) for t in state)
        inputs = time.perf_counter() - start
        with torch.no_grad(), autocast(device):
            blocks = adapter.time_blocks(state)
    return inputs / len(order), [seconds / len(order) for seconds in blocks]


class Runner(ABC):
    """Trains one `TrialSpec` per `run` call; subclasses supply data, model and pipeline per modality.

    Args:
        cache: Activation cache to use; default is the process-wide one for the spec's cache settings.
        num_threads: If set, `torch.set_num_threads(num_threads)`.

    Data problems (`DataError`) are raised, because no other trial can succeed either; a model that
    cannot be resolved or built, and anything failing during training (a callback's bug included),
    is reported as status "failed" with the traceback as `TrialResult.error`.
    """

    modality: str

    def __init__(self, cache: ActivationCache | None = None, num_threads: int | None = None) -> None:
        self.cache = cache
        if num_threads:
            torch.set_num_threads(num_threads)
        self.last_predictor: Any = None
        self._data_memo: dict[tuple[Any, ...], LabelledData] = {}

    @abstractmethod
    def load_data(self, source: DataSource, progress: Callable[[int, int], None] | None = None) -> LabelledData:
        """Loads the dataset `source` names; `progress` gets (done, total) where a scan takes a while."""

    @abstractmethod
    def build(self, choice: ResolvedBackbone, class_names: list[str], backbone_kwargs: dict[str, Any]) -> Any:
        """Builds the model; returns a modality-specific bundle passed to `pipeline`/`export`/`predictor`."""

    def use_head_features(self, bundle: Any, features: str, n_classes: int) -> None:
        """Gives the bundle's model a head on `features` (`TrialSpec.head_features`) other than the pooled ones."""
        raise BackboneError(f"head_features={features!r}: the {type(self).__name__} has no such head")

    @abstractmethod
    def pipeline(self, bundle: Any, data: LabelledData, split: Split, spec: TrialSpec) -> Any:
        """Returns the InputPipeline for the split data."""

    @abstractmethod
    def export(self, bundle: Any, class_names: list[str], spec: TrialSpec, model_dir: Path) -> None:
        """Saves the trained model in the ecosystem's format."""

    @abstractmethod
    def predictor(self, bundle: Any, class_names: list[str], spec: TrialSpec, device: torch.device) -> Any:
        """In-memory predictor for the trained model."""

    @abstractmethod
    def frozen_batches(
        self, bundle: Any, inputs: list[Any], batch_size: int, *, image_size: int | None, max_length: int
    ) -> Iterable[tuple[torch.Tensor, ...]]:
        """`inputs` as the model's input tensors, in order, `batch_size` at a time, un-augmented (`frozen_features`)."""

    def run(self, spec: TrialSpec, callback: Callable[[EpochMetrics], None] | None = None) -> TrialResult:
        """Trains and evaluates `spec`; calls `callback` after every epoch (raise `StopTrial` in it to stop)."""
        start = time.perf_counter()
        if spec.modality != self.modality:
            raise RunnerError(f"{type(self).__name__} runs {self.modality} trials, got modality={spec.modality!r}")
        seed_everything(spec.seed)
        device = pick_device(spec.device)
        data = self.load_data_cached(spec.source)
        split = stratified_split(data, spec.split_fractions, spec.seed)
        split_path = split.save(spec.output_dir / "split.json", data) if spec.output_dir else None
        # Refit: validation joins training; split.json above still names the search's split. A
        # head-only refit keeps the split and fits on both parts' cached features (no new pass).
        cache = self._cache(spec)
        head_refit = spec.train_on_val and all(s.converged_head for s in spec.stages) and cache is not None
        if spec.train_on_val and not head_refit:
            split = dataclasses.replace(split, train=sorted(split.train + split.val))
        common: dict[str, Any] = dict(
            n_skipped_files=data.n_skipped,
            n_train=len(split.train) + (len(split.val) if head_refit else 0),
            n_val=len(split.val),
            n_test=len(split.test),
            class_names=split.class_names,
            split_path=split_path,
        )
        try:  # a model that cannot be resolved or built fails this trial; another spec may build
            common["backbone"] = choice = resolve_backbone(spec.backbone, self.modality, spec.weights)
            if choice.fallback_reason:
                log.warning(choice.fallback_reason)
            bundle = self.build(choice, split.class_names, dict(spec.backbone_kwargs))
            if spec.head_features != POOLED_FEATURES:
                self.use_head_features(bundle, spec.head_features, len(split.class_names))
            adapter = adapter_for(bundle.model)
        except Exception as exc:  # noqa: BLE001 - reported as a failed trial, with its traceback
            log.error("model build failed: %s", traceback.format_exc())
            return TrialResult(status="failed", error=failure_text(exc), seconds=time.perf_counter() - start, **common)
        common["n_blocks"] = adapter.n_blocks
        common.update(self.input_sizes(bundle, data, spec))
        try:
            bundle.model.to(device)
            pipe = self.pipeline(bundle, data, split, spec)
            outcome = train(adapter, pipe, spec, len(split.class_names), device, cache, callback, head_refit)
            test_acc = test_f1 = None
            if split.test and spec.evaluate_test and outcome.status not in ("diverged", "failed"):
                src = UncachedSource(pipe, adapter, "test", 0, False, spec.batch_size, device)
                loss_fn = torch.nn.CrossEntropyLoss()
                _, test_acc, test_f1, _ = evaluate(
                    adapter, src, len(split.test), 0, loss_fn, device, spec.dihedral_views
                )
            model_dir = None
            if spec.output_dir is not None and outcome.best is not None and outcome.status != "failed":
                model_dir = Path(spec.output_dir) / "model"
                self.export(bundle, split.class_names, spec, model_dir)
            self.last_predictor = self.predictor(bundle, split.class_names, spec, device)
        except Exception as exc:  # noqa: BLE001 - reported as a failed trial, with the traceback logged
            log.error("trial failed: %s", traceback.format_exc())
            return TrialResult(status="failed", error=failure_text(exc), seconds=time.perf_counter() - start, **common)
        best = outcome.best
        cv = outcome.cv
        probs = outcome.best_val_probs
        return TrialResult(
            status=outcome.status,
            curve=outcome.curve,
            error=outcome.error,
            stop_exception=outcome.stop_exception,
            best_val_loss=best.val_loss if best else None,
            best_val_accuracy=best.val_accuracy if best else None,
            best_val_macro_f1=best.val_macro_f1 if best else None,
            test_accuracy=test_acc,
            test_macro_f1=test_f1,
            model_dir=model_dir,
            seconds=time.perf_counter() - start,
            cache_hits=outcome.cache_hits,
            stage_seconds=outcome.stage_seconds,
            fill_seconds_per_example=outcome.fill_seconds_per_example,
            fill_boundary=outcome.fill_boundary,
            fill_seconds=outcome.fill_seconds,
            skipped_stages=outcome.skipped_stages,
            cv_accuracy=cv.accuracy if cv else None,
            cv_stderr=cv.stderr if cv else None,
            cv_log_loss=cv.log_loss if cv else None,
            cv_labels=torch.cat([pipe.labels("train"), pipe.labels("val")]).tolist() if cv else [],
            cv_probabilities=cv.probabilities.tolist() if cv and cv.probabilities is not None else None,
            val_labels=pipe.labels("val").tolist(),
            val_probabilities=probs.double().tolist() if probs is not None else None,
            **common,
        )

    def input_sizes(self, bundle: Any, data: LabelledData, spec: TrialSpec) -> dict[str, int | None]:
        """`TrialResult`'s input-size fields: what was fed, what the weights expect, the data's own size.

        Nothing for modalities without an input resolution (text).
        """
        return {}

    def load_data_cached(self, source: DataSource, progress: Callable[[int, int], None] | None = None) -> LabelledData:
        """`load_data`, remembered per source for this runner: a search's trials share one scan.

        Scanning decodes every image to skip broken ones (seconds for a few thousand files), and
        hundreds of trials read the same folder. The key includes the folder's mtime, so adding or
        removing files in it between trials is noticed.
        """
        if not isinstance(source.data, Path):
            return self.load_data(source, progress)
        key = (
            str(source.data.resolve()),
            source.data.stat().st_mtime_ns,
            source.text_column,
            source.label_column,
            source.encoding,
        )
        if key not in self._data_memo:
            self._data_memo = {key: self.load_data(source, progress)}  # one source at a time: no unbounded growth
        return self._data_memo[key]

    def frozen_pass(
        self,
        spec: TrialSpec,
        progress: Callable[[int, int], None] | None = None,
        drift_sample: int | None = None,
    ) -> FrozenFeatures:
        """Pooled features and BatchNorm drift from the pass a feature-extraction trial of `spec` makes anyway.

        The frozen backbone runs over the validation and training splits (clean, un-augmented)
        through the activation cache at the boundary below the head: the entries it leaves are the
        ones a converged-head stage of the same spec reads, so that stage does not compute them again.

        Args:
            progress: Called with (examples done, examples in all) after every batch the pass computes.
            drift_sample: Examples to measure the drift on, spread over the pass (`DriftMeter`); all when None.

        Returns:
            `FrozenFeatures` with `inputs` and `labels` of the examples measured.
        """
        start = time.perf_counter()
        seed_everything(spec.seed)  # as `run` does: randomly initialised weights must match the trial's
        device = pick_device(spec.device)
        data = self.load_data_cached(spec.source)
        split = stratified_split(data, spec.split_fractions, spec.seed)
        choice = resolve_backbone(spec.backbone, self.modality, spec.weights)
        bundle = self.build(choice, split.class_names, dict(spec.backbone_kwargs))
        adapter = adapter_for(bundle.model)
        bundle.model.to(device).eval()
        pipe = self.pipeline(bundle, data, split, spec)
        shared = self._cache(spec)
        parts = [name for name in ("val", "train") if getattr(split, name)]
        chunks, inputs, labels = [], [], []
        total, done = sum(len(getattr(split, name)) for name in parts), 0

        def step(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(done, total)

        step(0)
        # no_grad, not inference_mode: cached tensors feed later trials' autograd (inference tensors cannot).
        with DriftMeter(adapter, drift_sample, total) as meter, torch.no_grad():
            for name in parts:
                chunks.append(self._pooled(pipe, adapter, name, spec, device, shared, step))
                index = getattr(split, name)
                inputs += [data.inputs[i] for i in index]
                labels += [data.labels[i] for i in index]
        if done < total:  # what the cache already held counts as done: the step ends at total
            step(total - done)
        features = torch.cat(chunks).numpy()
        result = _frozen_result(features, meter, choice, bundle.model, adapter, start, inputs=inputs, labels=labels)
        if not parts:
            return result
        # timed after `seconds` was taken: the pass's price per example stays the pass's own
        per_input, per_block = _time_blocks(pipe, adapter, parts[0], spec.batch_size, device)
        return dataclasses.replace(result, input_seconds=per_input, block_seconds=per_block)

    def frozen_features(
        self,
        backbone: str,
        inputs: list[Any],
        *,
        weights: str | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        image_size: int | None = None,
        max_length: int = 128,
        progress: Callable[[int, int], None] | None = None,
    ) -> FrozenFeatures:
        """The pretrained backbone once, in eval mode, over exactly `inputs`: no split, no cache (profiling).

        Args:
            backbone: A backbone name as `resolve_backbone` takes it (packaged, hub, or local).
            inputs: The examples (image paths, PIL images or arrays; or strings).
            progress: Called with (done, total) after every batch.

        Raises:
            BackboneError: the backbone cannot be built.
        """
        start = time.perf_counter()
        choice, bundle, adapter, dev = self._frozen_model(backbone, weights, device)
        model = bundle.model
        batches = self.frozen_batches(bundle, inputs, batch_size, image_size=image_size, max_length=max_length)
        chunks, done = [], 0
        with DriftMeter(adapter) as meter, torch.inference_mode():
            for state in batches:
                state = tuple(t.to(dev) for t in state)
                chunks.append(adapter.encode(state, 0, adapter.n_blocks)[0].float().cpu())
                done += state[0].shape[0]
                if progress is not None:
                    progress(done, len(inputs))
        features = torch.cat(chunks).numpy() if chunks else np.zeros((0, 0), dtype=np.float32)
        return _frozen_result(features, meter, choice, model, adapter, start)

    def _frozen_model(self, backbone: str, weights: str | None, device: str) -> tuple[Any, Any, BlockAdapter, Any]:
        """(the resolved backbone, its bundle, block adapter and device): the pretrained model built with a
        stand-in head, in eval mode, on `device` (what `frozen_features` and `pass_seconds` run)."""
        choice = resolve_backbone(backbone, self.modality, weights)
        bundle = self.build(choice, ["a", "b"], {})
        adapter = adapter_for(bundle.model.eval())
        dev = pick_device(device)
        bundle.model.to(dev)
        return choice, bundle, adapter, dev

    def pass_seconds(
        self,
        backbone: str,
        inputs: list[Any],
        *,
        weights: str | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        image_size: int | None = None,
        max_length: int = 128,
    ) -> float:
        """Seconds per example of the pretrained backbone's frozen pass (`frozen_features`'s, without
        the model build) over one batch of `inputs`, reading and preparing them included, timed on the
        second of two runs: a backbone's price before any pass over the data has measured it.

        Raises:
            BackboneError: the backbone cannot be built.
        """
        _, bundle, adapter, dev = self._frozen_model(backbone, weights, device)
        picked = list(inputs[:batch_size])
        seconds = 0.0
        for _ in range(2):  # the first run warms the kernels up
            start = time.perf_counter()
            with torch.inference_mode():
                for state in self.frozen_batches(
                    bundle, picked, batch_size, image_size=image_size, max_length=max_length
                ):
                    adapter.encode(tuple(t.to(dev) for t in state), 0, adapter.n_blocks)
            seconds = time.perf_counter() - start
        return seconds / max(len(picked), 1)

    @staticmethod
    def _pooled(
        pipe: Any,
        adapter: BlockAdapter,
        split: str,
        spec: TrialSpec,
        device: torch.device,
        cache: Any,
        step: Callable[[int], None] | None = None,
    ) -> torch.Tensor:
        """Pooled features of a whole split, computed into `cache` (or fresh, when it already held them)."""
        from runners.training.sources import CachedSource

        for store in (cache, ActivationCache()) if cache is not None else (ActivationCache(),):
            source = CachedSource(
                pipe, adapter, split, adapter.n_blocks, False, spec.batch_size, device, store, 1, spec.seed, step
            )
            if not source.cache_hit:  # a hit ran no forward pass, so the drift meter saw nothing
                break
        return source.tensors[0].float()

    def _cache(self, spec: TrialSpec) -> ActivationCache | None:
        if not spec.cache.enabled:
            return None
        if self.cache is not None:
            return self.cache
        return shared_cache(spec.cache.max_memory_mb, spec.cache.disk_dir, spec.cache.max_disk_mb)

    def score_saved(
        self,
        model_dir: Path,
        inputs: list[Any],
        labels: list[str],
        device: str = "cpu",
        progress: Callable[[int, int], None] | None = None,
    ) -> Confusion:
        """An exported model (reloaded from `model_dir`) on labelled inputs: its confusion matrix, and
        for an ensemble each member's own (`Confusion.members`), from the same forward passes.

        `progress`, when given, gets (examples done, examples in all) after every `SCORE_CHUNK` examples.
        """
        from runners.ensemble import EnsemblePredictor
        from runners.predict import load_predictor, top_predictions

        predictor = load_predictor(model_dir, device=device)
        ensemble = predictor if isinstance(predictor, EnsemblePredictor) else None
        predicted: list[str] = []
        by_member: list[list[str]] = [[] for _ in (ensemble.members if ensemble else [])]
        if progress is not None:
            progress(0, len(inputs))
        for start in range(0, len(inputs), SCORE_CHUNK):
            chunk = inputs[start : start + SCORE_CHUNK]
            if ensemble is None:
                predicted += [label for label, _ in predictor.predict(chunk)]
            else:  # the members' own predictions come with the ensemble's, from the same pass
                parts = ensemble.member_probabilities(chunk)
                predicted += [label for label, _ in top_predictions(ensemble.combine(parts), ensemble.class_names)]
                for member, probs in zip(by_member, parts, strict=True):
                    member += [label for label, _ in top_predictions(probs, ensemble.class_names)]
            if progress is not None:
                progress(len(predicted), len(inputs))
        members = {} if ensemble is None else dict(zip(ensemble.names, by_member, strict=True))
        return Confusion.of(list(labels), predicted).model_copy(
            update={"members": {name: Confusion.of(list(labels), guesses) for name, guesses in members.items()}}
        )

    def head_feature_choices(self, backbone: str) -> tuple[HeadFeatures, ...]:
        """What a head on this backbone can read (`TrialSpec.head_features`): the pooled features."""
        return (POOLED_FEATURES,)

    def n_blocks(self, backbone: str, weights: str | None = None, **backbone_kwargs: Any) -> int:
        """Number of blocks of a backbone (builds it once; weights="none" avoids loading weights)."""
        choice = resolve_backbone(backbone, self.modality, weights)
        bundle = self.build(choice, ["a", "b"], backbone_kwargs)
        return adapter_for(bundle.model).n_blocks
