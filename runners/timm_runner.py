"""Runner for image classification with any timm backbone."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import numpy as np
import torch
from torch import nn

from runners.backbones.build import build_timm
from runners.backbones.timm_blocks import StageStatsNet, TimmEfficientNetAdapter
from runners.cache import make_key
from runners.data import LabelledData, from_memory
from runners.data.images import load_image_folder, native_side, to_rgb
from runners.data.splits import Split
from runners.errors import BackboneError, DataError
from runners.export import export_timm
from runners.predict import ImagePredictor
from runners.runner import Runner
from runners.specs import (
    POOLED_FEATURES,
    STAGE_STATISTICS,
    DataSource,
    HeadFeatures,
    InMemoryData,
    ResolvedBackbone,
    TrialSpec,
)
from runners.transforms import eval_transform, train_transform


@dataclass
class TimmBundle:
    """A built timm model with its preprocessing config and architecture name."""

    model: nn.Module
    data_cfg: dict
    architecture: str
    backbone_kwargs: dict


def _content_hash(items: list[Any]) -> str:
    h = hashlib.sha256()
    for item in items:
        if isinstance(item, (str, Path)):
            stat = os.stat(item)  # path + size + mtime: a rewritten file invalidates cached activations
            h.update(f"{item}|{stat.st_size}|{stat.st_mtime_ns}".encode())
        else:
            h.update(np.asarray(to_rgb(item)).tobytes())
    return h.hexdigest()


class _Dataset(torch.utils.data.Dataset):
    def __init__(self, items: list[Any], labels: torch.Tensor, transform) -> None:
        self.items, self.labels, self.transform = items, labels, transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.transform(to_rgb(self.items[i])), self.labels[i]


# Decoding processes feeding a GPU, at most. One process decodes and transforms about 320 ELPV
# cells a second, 210 with the rule plan's augmentations (`bench/bench_loader.py`, 2 CPU cores; two
# workers: 480 and 330), where a GPU trains EfficientNet-Lite0 on thousands: alone it would keep
# the card waiting. On the CPU the model needs the cores: Lite0's frozen pass over ELPV takes 27 ms a
# cell there, decoding included (72 s for 2,624 in `advisor auto`'s measuring phase).
MAX_LOADER_WORKERS = 8


def loader_workers(device: str) -> int:
    """Worker processes for the image loader on `device` ("auto", "cpu", "cuda"): none on the CPU,
    else one per core but one (the main process drives the GPU), at most `MAX_LOADER_WORKERS`."""
    from runners.device import pick_device

    if pick_device(device).type != "cuda":
        return 0
    return max(0, min(MAX_LOADER_WORKERS, (os.cpu_count() or 1) - 1))


class ImagePipeline:
    """InputPipeline for images: decode, transform, batch (in `workers` processes when > 0)."""

    def __init__(
        self, data: LabelledData, split: Split, size: int, data_cfg: dict, spec: TrialSpec, workers: int = 0
    ) -> None:
        self.workers = workers
        index = {c: i for i, c in enumerate(split.class_names)}
        self.eval_tf = eval_transform(size, data_cfg)
        self.train_tf = train_transform(size, data_cfg, spec.augment)
        self.splits = {}
        for name in ("train", "val", "test"):
            idx = getattr(split, name)
            self.splits[name] = (
                [data.inputs[i] for i in idx],
                torch.tensor([index[data.labels[i]] for i in idx], dtype=torch.long),
                [data.ids[i] for i in idx],
            )
        self.source = data.source

    def size(self, split: str) -> int:
        return len(self.splits[split][0])

    def labels(self, split: str) -> torch.Tensor:
        return self.splits[split][1]

    def data_fingerprint(self, split: str, augment: bool) -> str:
        items, _, ids = self.splits[split]
        return make_key(
            source=self.source,
            ids=ids,
            content=_content_hash(items),
            transform=repr(self.train_tf if augment else self.eval_tf),
        )

    def loader(self, split: str, order: list[int], augment: bool, batch_size: int) -> Iterable:
        items, labels, _ = self.splits[split]
        ds = _Dataset(items, labels, self.train_tf if augment else self.eval_tf)
        dl = torch.utils.data.DataLoader(
            ds,
            batch_size=batch_size,
            sampler=order,
            num_workers=self.workers,
            pin_memory=self.workers > 0 and torch.cuda.is_available(),
        )
        return (((x,), y) for x, y in dl)


class TimmRunner(Runner):
    """Image classification runner (timm backbones, packaged weights, local weights)."""

    modality = "image"

    def load_data(self, source: DataSource, progress: Callable[[int, int], None] | None = None) -> LabelledData:
        if isinstance(source.data, InMemoryData):
            d = source.data
            return from_memory(d.inputs, d.labels, d.split)
        if not Path(source.data).is_dir():
            raise DataError(f"{source.data}: image data must be a folder of class sub-folders")
        return load_image_folder(source.data, progress)

    def build(self, choice: ResolvedBackbone, class_names: list[str], backbone_kwargs: dict[str, Any]) -> TimmBundle:
        model, data_cfg = build_timm(choice, len(class_names), backbone_kwargs)
        return TimmBundle(model, data_cfg, choice.architecture, backbone_kwargs)

    def use_head_features(self, bundle: TimmBundle, features: str, n_classes: int) -> None:
        """`stage_statistics`: wraps an EfficientNet-family model in a `StageStatsNet`."""
        if features != STAGE_STATISTICS:
            super().use_head_features(bundle, features, n_classes)
        if not TimmEfficientNetAdapter.matches(bundle.model):
            raise BackboneError(
                f"head_features={features!r} taps the stages of an EfficientNet-family model; "
                f"{bundle.architecture} is a {type(bundle.model).__name__}"
            )
        bundle.model = StageStatsNet(bundle.model, n_classes)

    def head_feature_choices(self, backbone: str) -> tuple[HeadFeatures, ...]:
        """The pooled features; and the stage statistics too for an EfficientNet family (`StageStatsNet`)."""
        from runners.backbones.resolve import resolve_backbone

        model, _ = build_timm(resolve_backbone(backbone, self.modality, "none"), 2, {})
        return get_args(HeadFeatures) if TimmEfficientNetAdapter.matches(model) else (POOLED_FEATURES,)

    def _size(self, bundle: TimmBundle, spec: TrialSpec) -> int:
        return spec.image_size or bundle.data_cfg["input_size"]

    def input_sizes(self, bundle: TimmBundle, data: LabelledData, spec: TrialSpec) -> dict[str, int | None]:
        """The side fed (`spec.image_size`, else the pretrained one), the pretrained side, the images' own."""
        return {
            "input_size": self._size(bundle, spec),
            "pretrained_input_size": int(bundle.data_cfg["input_size"]),
            "native_image_size": native_side(data.inputs),
        }

    def pipeline(self, bundle: TimmBundle, data: LabelledData, split: Split, spec: TrialSpec) -> ImagePipeline:
        return ImagePipeline(
            data, split, self._size(bundle, spec), bundle.data_cfg, spec, workers=loader_workers(spec.device)
        )

    def export(self, bundle: TimmBundle, class_names: list[str], spec: TrialSpec, model_dir: Path) -> None:
        cfg = {**bundle.data_cfg, "input_size": self._size(bundle, spec)}
        export_timm(
            bundle.model, bundle.architecture, class_names, cfg, bundle.backbone_kwargs, model_dir, spec.dihedral_views
        )

    def predictor(self, bundle: TimmBundle, class_names: list[str], spec: TrialSpec, device: torch.device):
        cfg = {**bundle.data_cfg, "input_size": self._size(bundle, spec)}
        return ImagePredictor(bundle.model, class_names, cfg, device, views=spec.dihedral_views)

    def frozen_batches(
        self, bundle: TimmBundle, inputs: list[Any], batch_size: int, *, image_size: int | None, max_length: int
    ) -> Iterator[tuple[torch.Tensor, ...]]:
        tf = eval_transform(image_size or bundle.data_cfg["input_size"], bundle.data_cfg)
        for start in range(0, len(inputs), batch_size):
            yield (torch.stack([tf(to_rgb(x)) for x in inputs[start : start + batch_size]]),)
