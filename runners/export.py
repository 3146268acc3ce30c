"""Saves trained models in their ecosystem's formats (timm: safetensors + config.json; HF: save_pretrained)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from torch import nn

RUNNERS_CONFIG = "runners.json"


def export_timm(
    model: nn.Module,
    architecture: str,
    class_names: list[str],
    data_cfg: dict,
    backbone_kwargs: dict[str, Any],
    model_dir: Path,
    views: int = 1,
) -> Path:
    """Writes `model.safetensors` and a timm-style `config.json` with classes and preprocessing.

    `views` > 1 (written as `"views"`): every prediction averages the probabilities over that many
    dihedral views of the image (`runners.views`); the weights are the plain timm model's. A model
    whose classifier is an RBF head (`StageSpec.head_kernel`) says so under `"head"`, with its shape;
    a `StageStatsNet` says `"head_features": "stage_statistics"` (timm's weights are under `net.`).
    """
    from safetensors.torch import save_file

    from runners.backbones.timm_blocks import StageStatsNet
    from runners.specs import STAGE_STATISTICS
    from runners.training.head import head_config

    model_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(model_dir / "model.safetensors"))
    config = {
        "runner": "timm",
        "architecture": architecture,
        "num_classes": len(class_names),
        "label_names": class_names,
        "model_args": backbone_kwargs,
        "pretrained_cfg": {
            "input_size": [3, data_cfg["input_size"], data_cfg["input_size"]],
            "mean": list(data_cfg["mean"]),
            "std": list(data_cfg["std"]),
            "interpolation": data_cfg.get("interpolation", "bilinear"),
            "crop_pct": data_cfg.get("crop_pct", 1.0),
        },
        "views": views,
    }
    head = head_config(cast(Any, model).get_classifier())  # timm: wherever the family keeps it
    if head is not None:
        config["head"] = head
    if isinstance(model, StageStatsNet):
        config["head_features"] = STAGE_STATISTICS
    (model_dir / "config.json").write_text(json.dumps(config, indent=2))
    return model_dir


def export_hf_text(model: Any, tokenizer: Any, class_names: list[str], max_length: int, model_dir: Path) -> Path:
    """`save_pretrained` for model and tokenizer (id2label set), plus runners.json (pooling, max length)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model_dir.mkdir(parents=True, exist_ok=True)
    model.config.id2label = dict(enumerate(class_names))
    model.config.label2id = {c: i for i, c in enumerate(class_names)}
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    extra = {"runner": "hf-text", "pooling": "mean", "max_length": max_length, "label_names": class_names}
    (model_dir / RUNNERS_CONFIG).write_text(json.dumps(extra, indent=2))
    return model_dir
