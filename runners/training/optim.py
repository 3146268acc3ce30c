"""AdamW parameter groups (head LR, backbone LR with layer-wise decay) and LR schedules."""

from __future__ import annotations

import math

import torch

from runners.backbones._base import BlockAdapter
from runners.specs import StageSpec


def param_groups(adapter: BlockAdapter, boundary: int, stage: StageSpec, weight_decay: float) -> list[dict]:
    """One group for the head, one per trainable block.

    Block i gets `lr_backbone * layer_decay ** (n_blocks - 1 - i)`: the top block gets `lr_backbone`,
    each block further down one more factor of `layer_decay`. Biases and norm weights (1-D tensors)
    are exempt from weight decay.
    """
    decay = stage.layer_decay or 1.0
    groups: list[dict] = []

    def add(params: list[torch.nn.Parameter], lr: float, name: str) -> None:
        params = [p for p in params if p.requires_grad]
        multi = [p for p in params if p.dim() > 1]
        single = [p for p in params if p.dim() <= 1]
        if multi:
            groups.append({"params": multi, "lr": lr, "weight_decay": weight_decay, "name": name})
        if single:
            groups.append({"params": single, "lr": lr, "weight_decay": 0.0, "name": name})

    add(list(adapter.head().parameters()), stage.lr_head, "head")
    head_ids = {id(p) for p in adapter.head().parameters()}
    for i in range(boundary, adapter.n_blocks):
        params = [p for p in adapter.block_parameters(i) if id(p) not in head_ids]
        add(params, stage.lr_backbone * decay ** (adapter.n_blocks - 1 - i), f"block{i}")
    return [g for g in groups if g["lr"] > 0 or g["name"] == "head"]


def make_scheduler(
    optimizer: torch.optim.Optimizer, kind: str, total_steps: int, warmup_fraction: float
) -> tuple[torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau | None, bool]:
    """Returns (scheduler, steps_per_batch). Cosine steps per batch; plateau steps per epoch on val loss."""
    if kind == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=1), False
    if kind == "none":
        return None, True
    warmup = int(warmup_fraction * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor), True
