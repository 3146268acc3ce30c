"""Runners: turn a training plan (`TrialSpec`) into a trained model and a measured learning curve.

Heavy dependencies (torch, timm, transformers) load lazily on first use of a runner.
"""

from __future__ import annotations

import importlib
from typing import Any

from runners.errors import BackboneError, DataError, RunnerError
from runners.specs import (
    AugmentConfig,
    CacheConfig,
    Confusion,
    DataSource,
    EpochMetrics,
    InMemoryData,
    ResolvedBackbone,
    StageSpec,
    TrialResult,
    TrialSpec,
)

_LAZY = {
    "TimmRunner": "runners.timm_runner",
    "HFTextRunner": "runners.text_runner",
    "resolve_backbone": "runners.backbones.resolve",
    "load_predictor": "runners.predict",
    "ActivationCache": "runners.cache",
}

__all__ = [
    "ActivationCache",
    "AugmentConfig",
    "BackboneError",
    "CacheConfig",
    "Confusion",
    "DataError",
    "DataSource",
    "EpochMetrics",
    "HFTextRunner",
    "InMemoryData",
    "ResolvedBackbone",
    "RunnerError",
    "StageSpec",
    "TimmRunner",
    "TrialResult",
    "TrialSpec",
    "cached_hub_backbones",
    "get_runner",
    "load_predictor",
    "n_blocks",
    "offline_backbones",
    "resolve_backbone",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'runners' has no attribute {name!r}")


def get_runner(modality: str, **kwargs: Any) -> Any:
    """Runner instance for "image" (TimmRunner) or "text" (HFTextRunner)."""
    if modality == "image":
        return __getattr__("TimmRunner")(**kwargs)
    if modality == "text":
        return __getattr__("HFTextRunner")(**kwargs)
    raise RunnerError(f"unknown modality {modality!r}; expected 'image' or 'text'")


def n_blocks(backbone: str, modality: str, weights: str | None = None, **backbone_kwargs: Any) -> int:
    """Number of blocks `StageSpec.trainable_blocks` counts for this backbone (head not counted)."""
    return get_runner(modality).n_blocks(backbone, weights, **backbone_kwargs)


def cached_hub_backbones(modality: str) -> list[str]:
    """Backbones of `modality` in the local Hugging Face hub cache that the runners can load offline."""
    from runners.backbones.hub_cache import cached_snapshots

    return list(cached_snapshots(modality))


def offline_backbones(modality: str | None = None) -> list[dict[str, Any]]:
    """Installed packaged weights entries: name, modality, architecture, weights path, input size."""
    from runners.backbones.packaged import PACKAGED

    return [
        {
            "name": e.name,
            "modality": e.modality,
            "architecture": e.architecture,
            "weights_path": str(e.weights_path()),
            "input_size": e.input_size,
            "aliases": list(e.aliases),
        }
        for e in PACKAGED.values()
        if (modality is None or e.modality == modality) and e.weights_path() is not None
    ]
