"""Chooses the block adapter for a model by feature detection, most specific family first."""

from __future__ import annotations

from torch import nn

from runners.backbones._base import BlockAdapter
from runners.backbones.hf_blocks import HFBertLikeAdapter
from runners.backbones.timm_blocks import (
    TimmEfficientNetAdapter,
    TimmGenericAdapter,
    TimmResNetAdapter,
    TimmStageStatsAdapter,
    TimmViTAdapter,
)
from runners.errors import BackboneError

ADAPTERS: list[type[BlockAdapter]] = [
    TimmStageStatsAdapter,
    TimmEfficientNetAdapter,
    TimmResNetAdapter,
    TimmViTAdapter,
    HFBertLikeAdapter,
    TimmGenericAdapter,
]


def adapter_for(model: nn.Module) -> BlockAdapter:
    """Returns the first registered adapter that matches `model`.

    Raises:
        BackboneError: no adapter understands the model.
    """
    for cls in ADAPTERS:
        if cls.matches(model):
            return cls(model)
    raise BackboneError(f"no block adapter for {type(model).__name__}; register one in runners.backbones.registry")
