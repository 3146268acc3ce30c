"""Frozen-backbone probe: one forward pass that yields pooled features and per-block BatchNorm drift.

The profiler uses it to measure how close a dataset is to a backbone's pretraining data without
training anything:

* pooled features (what feature extraction would train a head on) for linear probes and LogME;
* for every block holding BatchNorm layers, how far the data's per-channel activation statistics
  sit from the running statistics the backbone stored while it was pretrained. Low blocks see
  edges and textures, high blocks see object parts, so the profile of this drift across blocks
  says whether a domain shift is low-level or high-level.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from runners.backbones.registry import adapter_for
from runners.backbones.resolve import resolve_backbone
from runners.data.images import to_rgb
from runners.runner import pick_device
from runners.specs import BackboneChoice
from runners.transforms import eval_transform

# Channels whose stored variance is ~0 (dead after pretraining) would dominate any standardised distance.
_MIN_RUNNING_VAR = 1e-3


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
        inputs, labels: The examples measured, when the pass chose them (`Runner.frozen_pass`).
    """

    features: np.ndarray
    block_drift: list[float | None] | None
    backbone: BackboneChoice
    seconds: float
    n_blocks: int
    n_params: int = 0
    layer_drift: list[float] = field(default_factory=list)
    inputs: list[Any] | None = None
    labels: list[str] | None = None


class _MomentMeter:
    """Accumulates per-channel first and second moments of a BatchNorm layer's input."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm) -> None:
        self.bn = bn
        self.count = 0
        self.sum: torch.Tensor | None = None
        self.sq: torch.Tensor | None = None

    def __call__(self, _module: nn.Module, args: tuple[torch.Tensor, ...], _out: Any) -> None:
        x = args[0].detach().float()
        dims = [d for d in range(x.dim()) if d != 1]
        n = x.numel() // x.shape[1]
        s, q = x.sum(dims), (x * x).sum(dims)
        self.sum = s if self.sum is None else self.sum + s
        self.sq = q if self.sq is None else self.sq + q
        self.count += n

    def drift(self) -> float | None:
        """Mean over live channels of |Δmean| / running std + |log(std / running std)|."""
        if self.sum is None or self.sq is None or self.bn.running_mean is None or self.bn.running_var is None:
            return None
        mean = self.sum / self.count
        var = (self.sq / self.count - mean * mean).clamp_min(1e-8)
        run_mean, run_var = self.bn.running_mean.float().cpu(), self.bn.running_var.float().cpu()
        live = run_var > _MIN_RUNNING_VAR
        if not bool(live.any()):
            return None
        shift = (mean.cpu() - run_mean).abs() / run_var.sqrt()
        scale = 0.5 * (var.cpu() / run_var).log().abs()
        return float((shift + scale)[live].mean())


class DriftMeter:
    """Context manager: while active, every BatchNorm layer of the adapter's blocks records its input moments."""

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter
        self.meters: list[tuple[int, _MomentMeter]] = []
        self._handles: list[Any] = []

    def __enter__(self) -> DriftMeter:
        for i in range(self.adapter.n_blocks):
            for module in self.adapter.block_modules(i):
                for sub in module.modules():
                    if isinstance(sub, nn.modules.batchnorm._BatchNorm) and sub.track_running_stats:
                        meter = _MomentMeter(sub)
                        self.meters.append((i, meter))
                        self._handles.append(sub.register_forward_hook(meter))
        return self

    def __exit__(self, *_exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def layer_drift(self) -> list[float]:
        """Drift of every measured layer, bottom to top."""
        return [d for _, m in self.meters if (d := m.drift()) is not None and math.isfinite(d)]

    def block_drift(self) -> list[float | None] | None:
        """Mean drift per block (None for blocks without BatchNorm); None without any BatchNorm."""
        if not self.meters:
            return None
        per_block: list[list[float]] = [[] for _ in range(self.adapter.n_blocks)]
        for i, meter in self.meters:
            d = meter.drift()
            if d is not None and math.isfinite(d):
                per_block[i].append(d)
        return [float(np.mean(values)) if values else None for values in per_block]


def _image_batches(inputs: list[Any], data_cfg: dict, size: int, batch_size: int):
    tf = eval_transform(size, data_cfg)
    for start in range(0, len(inputs), batch_size):
        yield (torch.stack([tf(to_rgb(x)) for x in inputs[start : start + batch_size]]),)


def _text_batches(inputs: list[str], tokenizer: Any, max_length: int, batch_size: int):
    for start in range(0, len(inputs), batch_size):
        enc = tokenizer(
            list(inputs[start : start + batch_size]),
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        yield enc["input_ids"], enc["attention_mask"]


def frozen_features(
    backbone: str,
    modality: str,
    inputs: list[Any],
    *,
    weights: str | None = None,
    device: str = "cpu",
    batch_size: int = 32,
    image_size: int | None = None,
    max_length: int = 128,
    progress: Callable[[int, int], None] | None = None,
) -> FrozenFeatures:
    """Runs the pretrained backbone once, in eval mode, over `inputs`.

    Args:
        backbone: A backbone name as `resolve_backbone` takes it (zoo, hub, or local).
        modality: "image" (paths, PIL images or arrays) or "text" (strings).
        inputs: The examples.
        progress: Called with (done, total) after every batch.

    Raises:
        BackboneError: the backbone cannot be built.
    """
    from runners import get_runner

    start = time.perf_counter()
    choice = resolve_backbone(backbone, modality, weights)
    runner = get_runner(modality)
    bundle = runner.build(choice, ["a", "b"], {})
    model = bundle.model.eval()
    adapter = adapter_for(model)
    dev = pick_device(device)
    model.to(dev)
    if modality == "image":
        size = image_size or bundle.data_cfg["input_size"]
        batches = _image_batches(inputs, bundle.data_cfg, size, batch_size)
    else:
        batches = _text_batches(inputs, bundle.tokenizer, max_length, batch_size)
    chunks, done = [], 0
    with DriftMeter(adapter) as meter, torch.inference_mode():
        for state in batches:
            state = tuple(t.to(dev) for t in state)
            chunks.append(adapter.encode(state, 0, adapter.n_blocks)[0].float().cpu())
            done += state[0].shape[0]
            if progress is not None:
                progress(done, len(inputs))
    features = torch.cat(chunks).numpy() if chunks else np.zeros((0, 0), dtype=np.float32)
    return FrozenFeatures(
        features=features,
        block_drift=meter.block_drift(),
        backbone=choice,
        seconds=time.perf_counter() - start,
        n_blocks=adapter.n_blocks,
        n_params=sum(p.numel() for p in model.parameters()),
        layer_drift=meter.layer_drift(),
    )


def load_tokenizer(backbone: str, weights: str | None = None) -> Any:
    """The tokenizer of a text backbone (no remote code), without building the model."""
    from transformers import AutoTokenizer

    from runners.errors import BackboneError

    choice = resolve_backbone(backbone, "text", weights)
    source = choice.weights_path or choice.name
    try:
        return AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except OSError as exc:
        raise BackboneError(f"cannot load the tokenizer of {source}: {exc}") from None
