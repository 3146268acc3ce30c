"""Decides which weights a backbone request will use (hub, packaged weights, local file, random)."""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

from runners.backbones.hub_cache import cached_snapshot
from runners.backbones.packaged import available, find_entry
from runners.errors import BackboneError
from runners.specs import ResolvedBackbone


@functools.lru_cache(maxsize=1)
def hub_reachable() -> bool:
    """False when HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set or huggingface.co cannot be reached."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0") or os.environ.get("TRANSFORMERS_OFFLINE", "0") not in (
        "",
        "0",
    ):
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=1.5):
            return True
    except OSError:
        return False


def resolve_backbone(name: str, modality: str, weights: str | None = None) -> ResolvedBackbone:
    """Returns the backbone and weights that will actually be used for a request.

    Args:
        name: timm model name, HF model id, or packaged-weights name/alias (e.g. "efficientnet_lite0", "minilm_l6").
        modality: "image" or "text".
        weights: None (hub or packaged weights), "none" (random init), or a local file/folder path.

    Raises:
        BackboneError: `weights` names a path that does not exist.
    """
    if weights is None and modality == "text" and Path(name).is_dir():
        weights = name  # a local Hugging Face folder given as the backbone itself
    entry = find_entry(name)
    if entry is not None and entry.modality != modality:
        raise BackboneError(f"backbone {name!r} is a {entry.modality} model, not {modality}")
    arch = entry.architecture if entry and modality == "image" else name
    canonical = entry.name if entry else name
    if weights == "none":
        path = entry.weights_path() if entry and modality == "text" else None  # text needs a config
        return ResolvedBackbone(
            requested=name,
            name=canonical,
            modality=modality,
            architecture=arch,
            weights_source="random",
            weights_path=str(path) if path else None,
        )
    if weights is not None:
        if not Path(weights).exists():
            raise BackboneError(f"weights path {weights} does not exist")
        return ResolvedBackbone(
            requested=name,
            name=canonical,
            modality=modality,
            architecture=arch,
            weights_source="local",
            weights_path=str(weights),
        )
    if entry is not None and entry.weights_path() is not None:
        return ResolvedBackbone(
            requested=name,
            name=entry.name,
            modality=modality,
            architecture=arch,
            weights_source="packaged",
            weights_path=str(entry.weights_path()),
        )
    # With the hub offline, a model already in the local hub cache loads from its snapshot.
    snapshot = None if hub_reachable() else cached_snapshot(name, modality)
    if hub_reachable() or snapshot is not None:
        return ResolvedBackbone(
            requested=name,
            name=canonical,
            modality=modality,
            architecture=arch,
            weights_source="hub",
            weights_path=str(snapshot) if snapshot else None,
        )
    offline = available(modality)
    if not offline:
        raise BackboneError(f"{name!r}: hub unreachable and no offline {modality} backbone is installed")
    best = offline[0]
    return ResolvedBackbone(
        requested=name,
        name=best.name,
        modality=modality,
        architecture=best.architecture if modality == "image" else best.name,
        weights_source="packaged",
        weights_path=str(best.weights_path()),
        fallback_reason=f"no weights reachable for {name!r} (hub offline, no local file); "
        f"using offline {best.name} instead",
    )
