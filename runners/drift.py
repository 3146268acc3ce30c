"""BatchNorm drift: how far a dataset's per-channel activation statistics sit from a backbone's stored ones.

While a `DriftMeter` is active, every BatchNorm layer of the adapter's blocks records the moments
of its input. Low blocks see edges and textures, high blocks see object parts, so the profile of
this drift across blocks says whether a domain shift is low-level or high-level. The frozen passes
of `runners.runner.Runner` run under it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

# Channels whose stored variance is ~0 (dead after pretraining) would dominate any standardised distance.
_MIN_RUNNING_VAR = 1e-3


class _MomentMeter:
    """Accumulates per-channel first and second moments of a BatchNorm layer's input, over the
    batches that keep the examples measured at `share` of those seen (every batch at 1)."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm, share: float = 1.0) -> None:
        self.bn = bn
        self.share = share
        self.seen = 0  # examples through the layer
        self.examples = 0  # examples measured
        self.count = 0
        self.sum: torch.Tensor | None = None
        self.sq: torch.Tensor | None = None

    def __call__(self, _module: nn.Module, args: tuple[torch.Tensor, ...], _out: Any) -> None:
        batch = args[0].shape[0]
        take = self.examples < self.share * (self.seen + batch)
        self.seen += batch
        if not take:
            return
        self.examples += batch
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
    """Context manager: while active, every BatchNorm layer of the adapter's blocks records its input moments.

    With `sample` and `total` (examples the pass will run), the layers measure about `sample` of
    them, in batches spread over the pass (a split's examples may come class by class): the
    moments are means over every pixel, and on ELPV's 1,968 cells (2 CPU cores) measuring all of
    them took 29 s of the set-up's 113-second pass.
    """

    def __init__(self, adapter: Any, sample: int | None = None, total: int | None = None) -> None:
        self.adapter = adapter
        self.share = min(1.0, sample / total) if sample and total else 1.0
        self.meters: list[tuple[int, _MomentMeter]] = []
        self._handles: list[Any] = []

    def __enter__(self) -> DriftMeter:
        for i in range(self.adapter.n_blocks):
            for module in self.adapter.block_modules(i):
                for sub in module.modules():
                    if isinstance(sub, nn.modules.batchnorm._BatchNorm) and sub.track_running_stats:
                        meter = _MomentMeter(sub, self.share)
                        self.meters.append((i, meter))
                        self._handles.append(sub.register_forward_hook(meter))
        return self

    def __exit__(self, *_exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    @property
    def examples(self) -> int:
        """Examples the layers measured (0 without BatchNorm)."""
        return max((m.examples for _, m in self.meters), default=0)

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
