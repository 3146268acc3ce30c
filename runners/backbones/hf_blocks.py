"""Block adapter for Hugging Face BERT-like encoders: embeddings, then one block per encoder layer.

Pooling is a masked mean over tokens (what sentence-transformers MiniLM was trained for) followed by
the model's own `classifier` Linear; the CLS `pooler` is not used.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from runners.backbones._base import BlockAdapter, State


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, L) 0/1 mask -> (B, 1, 1, L) additive mask accepted by eager and SDPA attention."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class HFBertLikeAdapter(BlockAdapter):
    """Models whose base model has `embeddings` and `encoder.layer` (BERT, RoBERTa, MiniLM, ...)."""

    family = "hf-bert-like"

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        base = getattr(model, "base_model", None)
        return (
            base is not None
            and hasattr(base, "embeddings")
            and hasattr(getattr(base, "encoder", None), "layer")
            and isinstance(getattr(model, "classifier", None), nn.Linear)
        )

    @property
    def base(self) -> Any:
        return self.model.base_model

    def build_blocks(self) -> list[list[nn.Module | nn.Parameter]]:
        return [[self.base.embeddings], *[[layer] for layer in self.base.encoder.layer]]

    def head(self) -> nn.Module:
        return self.model.classifier

    def run_block(self, i: int, state: State) -> State:
        if i == 0:
            ids, mask = state
            return self.base.embeddings(input_ids=ids), mask
        hidden, mask = state
        out = self.base.encoder.layer[i - 1](hidden, attention_mask=additive_mask(mask, hidden.dtype))
        return (out[0] if isinstance(out, tuple) else out), mask

    def trim(self, state: State) -> State:
        if len(state) == 2 and state[1].dim() == 2 and state[0].dim() == 3:
            length = max(int(state[1].sum(1).max()), 1)
            return state[0][:, :length], state[1][:, :length]
        return state

    def pool(self, state: State) -> torch.Tensor:
        hidden, mask = state
        weights = mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)
