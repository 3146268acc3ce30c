"""Shared `Runner.run` flow: load data, split, build backbone, train stages, evaluate, export."""

from __future__ import annotations

import dataclasses
import logging
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from runners.backbones._base import BlockAdapter
from runners.backbones.registry import adapter_for
from runners.backbones.resolve import resolve_backbone
from runners.cache import ActivationCache, shared_cache
from runners.data import LabelledData
from runners.data.splits import Split, stratified_split
from runners.errors import RunnerError, failure_text
from runners.specs import BackboneChoice, EpochMetrics, TrialResult, TrialSpec
from runners.training.loop import evaluate, seed_everything, train
from runners.training.sources import UncachedSource

log = logging.getLogger(__name__)


def pick_device(requested: str) -> torch.device:
    """ "auto" -> CUDA when available, else CPU; an explicit "cuda" without a GPU is an error."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise RunnerError("device='cuda' requested but CUDA is not available")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


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
        self.last_adapter: BlockAdapter | None = None
        self._data_memo: dict[tuple[Any, ...], LabelledData] = {}

    @abstractmethod
    def load_data(self, spec: TrialSpec) -> LabelledData:
        """Loads the dataset named by the spec."""

    @abstractmethod
    def build(self, choice: BackboneChoice, class_names: list[str], backbone_kwargs: dict[str, Any]) -> Any:
        """Builds the model; returns a modality-specific bundle passed to `pipeline`/`export`/`predictor`."""

    @abstractmethod
    def pipeline(self, bundle: Any, data: LabelledData, split: Split, spec: TrialSpec) -> Any:
        """Returns the InputPipeline for the split data."""

    @abstractmethod
    def export(self, bundle: Any, class_names: list[str], spec: TrialSpec, model_dir: Path) -> None:
        """Saves the trained model in the ecosystem's format."""

    @abstractmethod
    def predictor(self, bundle: Any, class_names: list[str], spec: TrialSpec, device: torch.device) -> Any:
        """In-memory predictor for the trained model."""

    def run(self, spec: TrialSpec, callback: Callable[[EpochMetrics], None] | None = None) -> TrialResult:
        """Trains and evaluates `spec`; calls `callback` after every epoch (raise `StopTrial` in it to stop)."""
        start = time.perf_counter()
        if spec.modality != self.modality:
            raise RunnerError(f"{type(self).__name__} runs {self.modality} trials, got modality={spec.modality!r}")
        seed_everything(spec.seed)
        device = pick_device(spec.device)
        data = self.load_data_cached(spec)
        split = stratified_split(data, spec.split_fractions, spec.seed)
        split_path = split.save(spec.output_dir / "split.json", data) if spec.output_dir else None
        if spec.train_on_val:  # refit: validation joins training; split.json above still names the search's split
            split = dataclasses.replace(split, train=sorted(split.train + split.val))
        common: dict[str, Any] = dict(
            n_skipped_files=data.n_skipped,
            n_train=len(split.train),
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
            adapter = adapter_for(bundle.model)
        except Exception as exc:  # noqa: BLE001 - reported as a failed trial, with its traceback
            log.error("model build failed: %s", traceback.format_exc())
            return TrialResult(status="failed", error=failure_text(exc), seconds=time.perf_counter() - start, **common)
        self.last_adapter = adapter
        common["n_blocks"] = adapter.n_blocks
        common.update(self.input_sizes(bundle, data, spec))
        try:
            bundle.model.to(device)
            pipe = self.pipeline(bundle, data, split, spec)
            cache = self._cache(spec)
            outcome = train(adapter, pipe, spec, len(split.class_names), device, cache, callback)
            test_acc = test_f1 = None
            if split.test and spec.evaluate_test and outcome.status not in ("diverged", "failed"):
                src = UncachedSource(pipe, adapter, "test", 0, False, spec.batch_size, device)
                loss_fn = torch.nn.CrossEntropyLoss()
                _, test_acc, test_f1, _ = evaluate(adapter, src, len(split.test), 0, loss_fn, device)
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
            forward_seconds_per_example=outcome.forward_seconds_per_example,
            fill_seconds=outcome.fill_seconds,
            cv_accuracy=cv.accuracy if cv else None,
            cv_stderr=cv.stderr if cv else None,
            cv_log_loss=cv.log_loss if cv else None,
            val_labels=pipe.labels("val").tolist(),
            val_probabilities=probs.double().tolist() if probs is not None else None,
            **common,
        )

    def input_sizes(self, bundle: Any, data: LabelledData, spec: TrialSpec) -> dict[str, int | None]:
        """`TrialResult`'s input-size fields: what was fed, what the weights expect, the data's own size.

        Nothing for modalities without an input resolution (text).
        """
        return {}

    def load_data_cached(self, spec: TrialSpec) -> LabelledData:
        """`load_data`, remembered per source for this runner: a search's trials share one scan.

        Scanning decodes every image to skip broken ones (seconds for a few thousand files), and
        hundreds of trials read the same folder. The key includes the folder's mtime, so adding or
        removing files in it between trials is noticed.
        """
        if not isinstance(spec.data, Path):
            return self.load_data(spec)
        key = (
            str(spec.data.resolve()),
            spec.data.stat().st_mtime_ns,
            spec.text_column,
            spec.label_column,
            spec.encoding,
        )
        if key not in self._data_memo:
            self._data_memo = {key: self.load_data(spec)}  # one source at a time: no unbounded growth
        return self._data_memo[key]

    def frozen_pass(self, spec: TrialSpec) -> Any:
        """Pooled features and BatchNorm drift from the pass a feature-extraction trial of `spec` makes anyway.

        The frozen backbone runs over the validation and training splits (clean, un-augmented)
        through the activation cache at the boundary below the head: the entries it leaves are the
        ones a converged-head stage of the same spec reads, so that stage does not compute them again.

        Returns:
            `runners.probe.FrozenFeatures` with `inputs` and `labels` of the examples measured.
        """
        from runners.probe import DriftMeter, FrozenFeatures

        start = time.perf_counter()
        seed_everything(spec.seed)  # as `run` does: randomly initialised weights must match the trial's
        device = pick_device(spec.device)
        data = self.load_data_cached(spec)
        split = stratified_split(data, spec.split_fractions, spec.seed)
        choice = resolve_backbone(spec.backbone, self.modality, spec.weights)
        bundle = self.build(choice, split.class_names, dict(spec.backbone_kwargs))
        adapter = adapter_for(bundle.model)
        bundle.model.to(device).eval()
        pipe = self.pipeline(bundle, data, split, spec)
        shared = self._cache(spec)
        parts = [name for name in ("val", "train") if getattr(split, name)]
        chunks, inputs, labels = [], [], []
        # no_grad, not inference_mode: cached tensors feed later trials' autograd (inference tensors cannot).
        with DriftMeter(adapter) as meter, torch.no_grad():
            for name in parts:
                chunks.append(self._pooled(pipe, adapter, name, spec, device, shared))
                index = getattr(split, name)
                inputs += [data.inputs[i] for i in index]
                labels += [data.labels[i] for i in index]
        return FrozenFeatures(
            features=torch.cat(chunks).numpy(),
            block_drift=meter.block_drift(),
            backbone=choice,
            seconds=time.perf_counter() - start,
            n_blocks=adapter.n_blocks,
            n_params=sum(p.numel() for p in bundle.model.parameters()),
            layer_drift=meter.layer_drift(),
            inputs=inputs,
            labels=labels,
        )

    @staticmethod
    def _pooled(
        pipe: Any, adapter: BlockAdapter, split: str, spec: TrialSpec, device: torch.device, cache: Any
    ) -> torch.Tensor:
        """Pooled features of a whole split, computed into `cache` (or fresh, when it already held them)."""
        from runners.training.sources import CachedSource

        for store in (cache, ActivationCache()) if cache is not None else (ActivationCache(),):
            source = CachedSource(
                pipe, adapter, split, adapter.n_blocks, False, spec.batch_size, device, store, 1, spec.seed
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

    def score_saved(self, model_dir: Path, inputs: list[Any], labels: list[str], device: str = "cpu") -> float:
        """Accuracy of an exported model (reloaded from `model_dir`) on labelled inputs."""
        from runners.predict import load_predictor

        predicted = load_predictor(model_dir, device=device).predict(inputs)
        return sum(label == truth for (label, _), truth in zip(predicted, labels, strict=True)) / max(len(labels), 1)

    def n_blocks(self, backbone: str, weights: str | None = None, **backbone_kwargs: Any) -> int:
        """Number of blocks of a backbone (builds it once; weights="none" avoids loading weights)."""
        choice = resolve_backbone(backbone, self.modality, weights)
        bundle = self.build(choice, ["a", "b"], backbone_kwargs)
        return adapter_for(bundle.model).n_blocks
