"""Backbones already in the local Hugging Face hub cache: loadable without the network, so worth ranking.

The cache is the one `huggingface_hub` uses (`HF_HUB_CACHE`, default ~/.cache/huggingface/hub).
A repository counts when its current snapshot (refs/main, else the newest) holds a config.json and
weights, and the runners can use it: timm repositories (`timm/<model>.<tag>`) for images, BERT-like
encoders (model_type "bert", with a tokenizer) for text.
"""

from __future__ import annotations

import json
from pathlib import Path

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
# Sequence classifiers the block adapters split (a Linear `classifier` over a BERT-like encoder).
TEXT_MODEL_TYPES = frozenset({"bert"})


def cache_dir() -> Path:
    """The hub cache directory huggingface_hub reads."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _snapshot(repo: Path) -> Path | None:
    ref = repo / "refs" / "main"
    if ref.is_file():
        snap = repo / "snapshots" / ref.read_text().strip()
        return snap if snap.is_dir() else None
    snaps = sorted((p for p in (repo / "snapshots").glob("*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    return snaps[-1] if snaps else None


def cached_snapshots(modality: str, root: Path | None = None) -> dict[str, Path]:
    """Backbone name → snapshot folder for every usable cached repository of `modality`."""
    root = root or cache_dir()
    found: dict[str, Path] = {}
    for repo in sorted(root.glob("models--*")) if root.is_dir() else []:
        repo_id = repo.name.removeprefix("models--").replace("--", "/")
        snap = _snapshot(repo)
        if snap is None or not any((snap / f).is_file() for f in WEIGHT_FILES):
            continue
        try:
            config = json.loads((snap / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if modality == "image" and repo_id.startswith("timm/") and "architecture" in config:
            found[repo_id.removeprefix("timm/")] = snap
        elif (
            modality == "text"
            and config.get("model_type") in TEXT_MODEL_TYPES
            and any((snap / f).is_file() for f in TOKENIZER_FILES)
        ):
            found[repo_id] = snap
    return found


def cached_snapshot(name: str, modality: str, root: Path | None = None) -> Path | None:
    """The snapshot holding `name`, if cached (a timm name without tag matches its default tag)."""
    snapshots = cached_snapshots(modality, root)
    if name in snapshots:
        return snapshots[name]
    if modality == "image" and "." not in name:
        try:
            import timm

            cfg = timm.models.get_pretrained_cfg(name)
        except (RuntimeError, ValueError):
            return None
        hub_id = (cfg.hf_hub_id if cfg is not None else None) or ""
        return snapshots.get(hub_id.removeprefix("timm/"))
    return None
