"""Builds a classifier (timm or Hugging Face) with the resolved weights and a new head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from runners.backbones.packaged import PACKAGED, load_ordered_state_dict
from runners.errors import BackboneError
from runners.specs import ResolvedBackbone


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """Loads a state dict from safetensors or a `weights_only` torch file (never arbitrary pickles)."""
    if path.is_dir():
        candidates = [path / "model.safetensors", path / "pytorch_model.bin"]
        path = next((c for c in candidates if c.exists()), candidates[0])
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return state


def _load_timm_weights(model: Any, path: Path) -> None:
    state = read_checkpoint(path)
    own = model.state_dict()
    named = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if len(named) >= 0.9 * len(own) - 4:  # allow the classifier (and its buffers) to differ
        model.load_state_dict(named, strict=False)
        return
    if len(state) == len(own):
        model.load_state_dict(load_ordered_state_dict(list(own), {k: tuple(v.shape) for k, v in own.items()}, path))
        return
    raise BackboneError(f"{path}: only {len(named)}/{len(own)} tensors fit {type(model).__name__}")


def channels_last(model: nn.Module) -> nn.Module:
    """The model's 4-D weights in the "channels last" (NHWC) layout, in place; returns the model.

    A convolution whose weight is channels-last computes in that layout whatever its input's, and
    oneDNN (CPU) and cuDNN are fastest there. `bench/bench_layout.py` measures it: on the 2-core
    CPU, EfficientNet-Lite0 at 224 px runs its frozen pass 1.6× and a training step 1.5× faster,
    with outputs equal to float32 rounding. Weights are saved contiguous (`runners.export`).
    """
    return model.to(memory_format=torch.channels_last)


def build_timm(choice: ResolvedBackbone, num_classes: int, kwargs: dict[str, Any]) -> tuple[nn.Module, dict]:
    """Creates a timm model and returns it with its preprocessing config (input size, mean, std...)."""
    import timm

    kwargs = {"drop_rate": 0.0, **kwargs}  # head dropout would make cached and uncached paths differ
    entry = PACKAGED.get(choice.name)
    try:
        if choice.weights_source == "packaged" and entry is not None:
            model: Any = timm.create_model(choice.architecture, pretrained=False, **kwargs)
            shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
            model.load_state_dict(load_ordered_state_dict(list(shapes), shapes, Path(str(choice.weights_path))))
            model.reset_classifier(num_classes)
        elif choice.weights_source == "local" or (choice.weights_source == "hub" and choice.weights_path):
            # a local file, or a hub model found in the local hub cache while the hub is unreachable
            model = timm.create_model(choice.architecture, pretrained=False, num_classes=num_classes, **kwargs)
            _load_timm_weights(model, Path(str(choice.weights_path)))
        else:
            model = timm.create_model(
                choice.architecture, pretrained=choice.weights_source == "hub", num_classes=num_classes, **kwargs
            )
    except RuntimeError as exc:
        if "Unknown model" in str(exc):
            raise BackboneError(f"timm has no model {choice.architecture!r}") from None
        raise
    cfg = timm.data.resolve_data_config({}, model=model)
    data_cfg = {
        "input_size": int(cfg["input_size"][-1]),
        "mean": tuple(cfg["mean"]),
        "std": tuple(cfg["std"]),
        "interpolation": cfg["interpolation"],
        "crop_pct": float(cfg["crop_pct"]),
    }
    if entry is not None and choice.weights_source == "packaged":
        data_cfg.update(mean=entry.mean, std=entry.std, input_size=entry.input_size)
    return channels_last(model), data_cfg


def build_hf_text(
    choice: ResolvedBackbone, class_names: list[str], config_overrides: dict[str, Any] | None = None
) -> tuple[nn.Module, Any]:
    """Creates an AutoModelForSequenceClassification (no remote code) and its tokenizer.

    Attention-probability dropout defaults to 0: on CPU it forces SDPA onto its slow math path and
    roughly doubles the cost of a training step (measured on MiniLM: 1.2 s vs 0.65 s per layer and
    batch). Pass `{"attention_probs_dropout_prob": 0.1}` in `config_overrides` to restore it.
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    source = choice.weights_path or choice.name
    hf_logging.disable_progress_bar()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "newly initialised classifier" warnings are expected here
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=False)
        config.num_labels = len(class_names)
        config.id2label = dict(enumerate(class_names))
        config.label2id = {c: i for i, c in enumerate(class_names)}
        overrides = dict(config_overrides or {})
        if hasattr(config, "attention_probs_dropout_prob"):
            overrides.setdefault("attention_probs_dropout_prob", 0.0)
        for key, value in overrides.items():
            if not hasattr(config, key):
                raise BackboneError(f"{source}: config has no attribute {key!r} (from backbone_kwargs)")
            setattr(config, key, value)
        if choice.weights_source == "random":
            model = AutoModelForSequenceClassification.from_config(config, trust_remote_code=False)
        else:
            model = AutoModelForSequenceClassification.from_pretrained(
                source, config=config, trust_remote_code=False, ignore_mismatched_sizes=True
            )
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except OSError as exc:
        raise BackboneError(f"cannot load text backbone from {source}: {exc}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    return model, tokenizer


def load_tokenizer(backbone: str, weights: str | None = None) -> Any:
    """The tokenizer of a text backbone (no remote code), without building the model."""
    from transformers import AutoTokenizer

    from runners.backbones.resolve import resolve_backbone

    choice = resolve_backbone(backbone, "text", weights)
    source = choice.weights_path or choice.name
    try:
        return AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except OSError as exc:
        raise BackboneError(f"cannot load the tokenizer of {source}: {exc}") from None
