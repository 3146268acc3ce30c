"""Batch sources that deliver the state at a block boundary: recomputed each time, or from the cache."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

import torch

from runners.backbones._base import BlockAdapter, State
from runners.cache import ActivationCache, make_key, prefix_fingerprint
from runners.views import view_geometry, view_state


class InputPipeline(Protocol):
    """Modality-specific part: turns a split's examples into batches of raw input states."""

    def loader(
        self, split: str, order: list[int], augment: bool, batch_size: int
    ) -> Iterable[tuple[State, torch.Tensor]]:
        """Batches (state, labels) in the given example order."""

    def data_fingerprint(self, split: str, augment: bool) -> str:
        """Identity of the split's examples and input transform (part of the cache key)."""

    def size(self, split: str) -> int:
        """Number of examples in a split."""

    def labels(self, split: str) -> torch.Tensor:
        """Label ids of a split, as a LongTensor."""


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on CUDA, nothing elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _to(state: State, device: torch.device) -> State:
    return tuple(t.to(device, non_blocking=True) for t in state)


def _pad_cat(chunks: list[State]) -> State:
    """Concatenates batch states; sequence tensors of different lengths are zero-padded on dim 1."""
    out = []
    for j in range(len(chunks[0])):
        parts = [c[j] for c in chunks]
        if parts[0].dim() >= 2 and len({p.shape[1] for p in parts}) > 1:
            length = max(p.shape[1] for p in parts)
            parts = [torch.nn.functional.pad(p, [0, 0] * (p.dim() - 2) + [0, length - p.shape[1]]) for p in parts]
        out.append(torch.cat(parts))
    return tuple(out)


class UncachedSource:
    """Runs the frozen prefix on every batch (the reference path)."""

    def __init__(
        self,
        pipeline: InputPipeline,
        adapter: BlockAdapter,
        split: str,
        boundary: int,
        augment: bool,
        batch_size: int,
        device: torch.device,
    ) -> None:
        self.pipeline, self.adapter, self.split, self.boundary = pipeline, adapter, split, boundary
        self.augment, self.batch_size, self.device = augment, batch_size, device

    def batches(self, order: torch.Tensor, epoch: int = 0) -> Iterator[tuple[State, torch.Tensor]]:
        yield from self.view_batches(order)

    def view_batches(self, order: torch.Tensor, view: int = 0) -> Iterator[tuple[State, torch.Tensor]]:
        """The examples in `order` under dihedral view `view` (`runners.views`), through the frozen prefix."""
        for state, y in self.pipeline.loader(self.split, order.tolist(), self.augment, self.batch_size):
            state = _to(state, self.device)
            state = view_state(state, view)
            if self.boundary > 0:
                with torch.no_grad(), autocast(self.device):
                    state = tuple(
                        t.float() if t.is_floating_point() else t for t in self.adapter.encode(state, 0, self.boundary)
                    )
            yield state, y.to(self.device)


class CachedSource:
    """Serves boundary activations computed once (per cache key): `n_views` augmented views for
    training, or with `dihedral` > 1 that many dihedral views of every example (`runners.views`), each view
    cached under its own key (view 0, the image as it is, is the clean entry a frozen pass leaves).

    Attributes:
        views: Views held per example; `tensors` stacks them view by view (row `v * n + i`).
        computed: Examples this source ran through the frozen prefix (0 on a full cache hit).
    """

    def __init__(
        self,
        pipeline: InputPipeline,
        adapter: BlockAdapter,
        split: str,
        boundary: int,
        augment: bool,
        batch_size: int,
        device: torch.device,
        cache: ActivationCache,
        n_views: int,
        seed: int,
        step: Callable[[int], None] | None = None,
        dihedral: int = 1,
    ) -> None:
        """`step`, when given, is called with each computed batch's number of examples (a fill's progress)."""
        if dihedral > 1 and augment:
            raise ValueError("dihedral views are computed from the clean images; augment must be off")
        self.adapter, self.batch_size, self.device, self.seed = adapter, batch_size, device, seed
        self.step = step
        self.n = pipeline.size(split)
        self.labels = pipeline.labels(split)
        self.views = dihedral if dihedral > 1 else (n_views if augment else 1)
        self.computed = 0
        modules = [m for i in range(boundary) for m in adapter.block_modules(i)]
        params = [p for i in range(boundary) for p in adapter.block_parameters(i)]
        parts = dict(
            prefix=prefix_fingerprint(modules, params),
            family=adapter.family,
            state=adapter.state_format,
            boundary=boundary,
            data=pipeline.data_fingerprint(split, augment),
        )
        if dihedral > 1:
            per_view = [self._view(pipeline, split, boundary, cache, parts, v) for v in range(dihedral)]
            self.tensors = _pad_cat(per_view)
            self.cache_hit = self.computed == 0
            return
        key = make_key(**parts, views=self.views, seed=seed if augment else None)
        tensors = cache.get(key)
        self.cache_hit = tensors is not None
        if tensors is None:
            tensors = self._compute(pipeline, split, boundary, augment)
            cache.put(key, tensors)
        self.tensors = tensors

    def _view(
        self, pipeline: InputPipeline, split: str, boundary: int, cache: ActivationCache, parts: dict, view: int
    ) -> State:
        """Dihedral view `view` of the split at the boundary, from the cache or computed into it."""
        key = make_key(**parts, views=1, seed=None, **({"view": list(view_geometry(view))} if view else {}))
        tensors = cache.get(key)
        if tensors is None:
            src = UncachedSource(pipeline, self.adapter, split, boundary, False, self.batch_size, self.device)
            tensors = self._pass(src, view)
            cache.put(key, tensors)
        return tensors

    def _pass(self, src: UncachedSource, view: int = 0) -> State:
        """The frozen prefix over the whole split under `view`, in eval mode; counts the examples computed."""
        was_training = self.adapter.model.training
        self.adapter.model.eval()
        try:
            chunks = []
            for state, labels in src.view_batches(torch.arange(self.n), view):
                chunks.append(tuple(t.cpu() for t in state))
                self.computed += len(labels)
                if self.step is not None:
                    self.step(len(labels))
        finally:
            self.adapter.model.train(was_training)
        return _pad_cat(chunks)

    def _compute(self, pipeline: InputPipeline, split: str, boundary: int, augment: bool) -> State:
        views = []
        rng_state = torch.get_rng_state()
        try:
            for v in range(self.views):
                torch.manual_seed(self.seed * 1009 + v)  # fixed, reproducible augmented views
                src = UncachedSource(pipeline, self.adapter, split, boundary, augment, self.batch_size, self.device)
                views.append(self._pass(src))
        finally:
            torch.set_rng_state(rng_state)
        return _pad_cat(views)

    def batches(self, order: torch.Tensor, epoch: int = 0) -> Iterator[tuple[State, torch.Tensor]]:
        if self.views > 1:
            g = torch.Generator().manual_seed(self.seed * 7919 + epoch)
            order = order + self.n * torch.randint(self.views, (len(order),), generator=g)
        yield from self.view_batches(order)

    def view_batches(self, order: torch.Tensor, view: int = 0) -> Iterator[tuple[State, torch.Tensor]]:
        """The cached rows of view `view` of the examples in `order` (`order` may already point past view 0)."""
        for chunk in (order + self.n * view).split(self.batch_size):
            state = self.adapter.trim(tuple(t[chunk] for t in self.tensors))
            yield _to(state, self.device), self.labels[chunk % self.n].to(self.device)
