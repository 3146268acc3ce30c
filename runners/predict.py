"""Predictors for trained models, in memory or reloaded from an exported folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from runners.errors import RunnerError
from runners.export import RUNNERS_CONFIG

Prediction = tuple[str, float]


def _top(logits: torch.Tensor, class_names: list[str]) -> list[Prediction]:
    probs = logits.float().softmax(-1)
    conf, idx = probs.max(-1)
    return [(class_names[i], float(c)) for i, c in zip(idx.tolist(), conf.tolist(), strict=True)]


class ImagePredictor:
    """Predicts labels for image paths, PIL images or arrays."""

    def __init__(
        self,
        model: nn.Module,
        class_names: list[str],
        data_cfg: dict,
        device: torch.device | str = "cpu",
        batch_size: int = 32,
    ) -> None:
        from runners.transforms import eval_transform

        self.model, self.class_names, self.device = model, class_names, torch.device(device)
        self.transform = eval_transform(data_cfg["input_size"], data_cfg)
        self.batch_size = batch_size

    def predict(self, inputs: list[Any]) -> list[Prediction]:
        """Returns (label, confidence) per input."""
        from runners.data.images import to_rgb

        self.model.eval().to(self.device)
        out: list[Prediction] = []
        with torch.no_grad():
            for i in range(0, len(inputs), self.batch_size):
                x = torch.stack([self.transform(to_rgb(item)) for item in inputs[i : i + self.batch_size]])
                out += _top(self.model(x.to(self.device)), self.class_names)
        return out


class TextPredictor:
    """Predicts labels for texts with the runner's pooling (masked mean) and classifier."""

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        class_names: list[str],
        max_length: int,
        device: torch.device | str = "cpu",
        batch_size: int = 32,
    ) -> None:
        from runners.backbones.registry import adapter_for

        self.model, self.tokenizer, self.class_names = model, tokenizer, class_names
        self.adapter = adapter_for(model)
        self.max_length, self.device, self.batch_size = max_length, torch.device(device), batch_size

    def predict(self, inputs: list[str]) -> list[Prediction]:
        """Returns (label, confidence) per text."""
        self.model.eval().to(self.device)
        out: list[Prediction] = []
        with torch.no_grad():
            for i in range(0, len(inputs), self.batch_size):
                enc = self.tokenizer(
                    list(inputs[i : i + self.batch_size]),
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                )
                state = (enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device))
                out += _top(self.adapter.forward_from(state, 0), self.class_names)
        return out


def load_predictor(model_dir: str | Path, device: str = "cpu") -> ImagePredictor | TextPredictor:
    """Loads an exported model folder (weights via safetensors / save_pretrained, no pickles).

    Raises:
        RunnerError: the folder was not written by `runners.export`.
    """
    model_dir = Path(model_dir)
    if (model_dir / RUNNERS_CONFIG).exists():
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        extra = json.loads((model_dir / RUNNERS_CONFIG).read_text())
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
        return TextPredictor(model, tokenizer, extra["label_names"], extra["max_length"], device)
    config_path = model_dir / "config.json"
    if not config_path.exists():
        raise RunnerError(f"{model_dir}: no config.json / {RUNNERS_CONFIG}; not an exported runners model")
    config = json.loads(config_path.read_text())
    if config.get("runner") != "timm":
        raise RunnerError(f"{config_path}: unknown runner {config.get('runner')!r}")
    import timm
    from safetensors.torch import load_file

    model = timm.create_model(
        config["architecture"],
        pretrained=False,
        num_classes=config["num_classes"],
        **{"drop_rate": 0.0, **config.get("model_args", {})},
    )
    model.load_state_dict(load_file(str(model_dir / "model.safetensors")))
    pcfg = config["pretrained_cfg"]
    data_cfg = {
        "input_size": pcfg["input_size"][-1],
        "mean": tuple(pcfg["mean"]),
        "std": tuple(pcfg["std"]),
        "interpolation": pcfg["interpolation"],
        "crop_pct": pcfg["crop_pct"],
    }
    return ImagePredictor(model, config["label_names"], data_cfg, device)
