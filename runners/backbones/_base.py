"""Base class of block adapters: a backbone seen as stem .. top block, then pooling and a new head.

A *boundary* b in [0, n_blocks] is a position between blocks: the state at b is the output of
blocks[0:b] (b = 0: the raw inputs; b = n_blocks: pooled features). "Train the top k blocks" means
blocks[n_blocks - k:] and the head are trainable; everything below the boundary is frozen and run
in eval mode, which is what makes the frozen-prefix cache exact.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn

State = tuple[torch.Tensor, ...]


class BlockAdapter(ABC):
    """Splits one model family into ordered blocks; subclasses register in `registry.ADAPTERS`."""

    family: ClassVar[str]
    # What the state at the top holds; a cache key names it, so a cache filled before a change is not read.
    state_format: ClassVar[str] = "pooled"

    def __init__(self, model: nn.Module) -> None:
        self.model: Any = model  # family-specific attributes (blocks, conv_stem, ...) are dynamic
        self._blocks = self.build_blocks()

    @classmethod
    @abstractmethod
    def matches(cls, model: nn.Module) -> bool:
        """True when this adapter understands `model`."""

    @abstractmethod
    def build_blocks(self) -> list[list[nn.Module | nn.Parameter]]:
        """Modules/parameters owned by each block, bottom (stem) to top."""

    @abstractmethod
    def head(self) -> nn.Module:
        """The classifier applied to pooled features (trainable in every stage)."""

    @abstractmethod
    def run_block(self, i: int, state: State) -> State:
        """Runs block `i` on the state at boundary `i`."""

    @abstractmethod
    def pool(self, state: State) -> torch.Tensor:
        """Turns the top block's output into one feature vector per example."""

    @property
    def n_blocks(self) -> int:
        """Number of backbone blocks (the head is not counted)."""
        return len(self._blocks)

    def boundary(self, trainable_blocks: int) -> int:
        """Boundary below which blocks are frozen when the top `trainable_blocks` train."""
        return self.n_blocks - min(trainable_blocks, self.n_blocks)

    def block_parameters(self, i: int) -> list[nn.Parameter]:
        """Parameters of block `i`, without duplicates."""
        params: dict[int, nn.Parameter] = {}
        for owner in self._blocks[i]:
            for p in [owner] if isinstance(owner, nn.Parameter) else owner.parameters():
                params[id(p)] = p
        return list(params.values())

    def block_modules(self, i: int) -> list[nn.Module]:
        return [m for m in self._blocks[i] if isinstance(m, nn.Module)]

    def block_state(self, i: int) -> list[torch.Tensor]:
        """Every tensor block `i` computes with, in order: parameters and buffers (BatchNorm statistics too)."""
        tensors: list[torch.Tensor] = []
        for owner in self._blocks[i]:
            tensors += [owner.detach()] if isinstance(owner, nn.Parameter) else list(owner.state_dict().values())
        return tensors

    def encode(self, state: State, start: int, end: int) -> State:
        """Runs blocks[start:end]; pools when `end == n_blocks`, so the result is the state at `end`."""
        for i in range(start, end):
            state = self.run_block(i, state)
        if end == self.n_blocks and start < end:
            state = (self.pool(state),)
        return state

    def time_blocks(self, state: State) -> list[float]:
        """Seconds each block takes to run on `state` (the raw inputs), bottom to top; pooling is
        counted with the top block. Call it under `torch.no_grad()` with the model in eval mode."""
        seconds = []
        for i in range(self.n_blocks):
            start = time.perf_counter()
            state = self.encode(state, i, i + 1)
            if state[0].is_cuda:
                torch.cuda.synchronize(state[0].device)
            seconds.append(time.perf_counter() - start)
        return seconds

    def forward_from(self, state: State, start: int) -> torch.Tensor:
        """Logits from the state at boundary `start`."""
        if start < self.n_blocks:
            state = self.encode(state, start, self.n_blocks)
        return self.head()(self.head_input(state))

    def head_input(self, state: State) -> torch.Tensor:
        """What the head reads from the state at the top boundary (the pooled features)."""
        return state[0]

    def trim(self, state: State) -> State:
        """Drops padding a cached batch does not need (sequence models override)."""
        return state

    def set_trainable(self, trainable_blocks: int) -> int:
        """Freezes everything below the boundary; returns the boundary."""
        b = self.boundary(trainable_blocks)
        for p in self.model.parameters():
            p.requires_grad_(False)
        for i in range(b, self.n_blocks):
            for p in self.block_parameters(i):
                p.requires_grad_(True)
        for p in self.head().parameters():
            p.requires_grad_(True)
        return b

    def train_mode(self, training: bool, boundary: int, freeze_batchnorm: bool = False) -> None:
        """Sets train/eval mode; frozen blocks always run in eval mode (BatchNorm, dropout).

        `freeze_batchnorm`: BatchNorm layers of the trained blocks also keep their pretrained
        statistics (their scale and shift still train).
        """
        self.model.train(training)
        for i in range(boundary):
            for m in self.block_modules(i):
                m.eval()
        if freeze_batchnorm:
            for m in self.model.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()
