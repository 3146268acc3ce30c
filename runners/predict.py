"""Predictors for trained models, in memory or reloaded from an exported folder.

Every predictor has `class_names`, `modality`, `predict_proba(inputs)` (n, n_classes) float64 in
`class_names` order, and `predict(inputs)` (label, confidence) per input.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, get_args

import numpy as np

from runners.errors import BackboneError, RunnerError
from runners.export import RUNNERS_CONFIG

if TYPE_CHECKING:
    import torch
    from torch import nn

    from runners.backbones._base import BlockAdapter

Prediction = tuple[str, float]

# Probabilities below this are clipped before the log (as scikit-learn's log_loss did): one
# confidently wrong example then costs at most -log(1e-15) ≈ 34.5 nats instead of infinity.
LOG_LOSS_EPS = 1e-15


class Predictor(Protocol):
    """What an ensemble and `advisor predict` need from a model."""

    class_names: list[str]
    modality: str

    def predict_proba(self, inputs: list[Any]) -> np.ndarray:
        """Probabilities (n, n_classes), float64, columns in `class_names` order."""
        ...

    def predict(self, inputs: list[Any]) -> list[Prediction]:
        """(label, confidence) per input."""
        ...


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (max subtracted first, so large logits do not overflow)."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_loss(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log probability of the true class indices `y` (clipped at `LOG_LOSS_EPS`)."""
    picked = probs[np.arange(len(y)), y]
    return float(-np.mean(np.log(np.clip(picked, LOG_LOSS_EPS, None))))


def top_predictions(probs: np.ndarray, class_names: list[str]) -> list[Prediction]:
    """(label, probability) of the most probable class per row; ties go to the first column."""
    idx = probs.argmax(axis=1)
    return [(class_names[i], float(probs[row, i])) for row, i in enumerate(idx.tolist())]


def softmax_rows(logits: torch.Tensor) -> np.ndarray:
    """Row-wise softmax of a batch of logits, float64 on the CPU (every predictor's probabilities)."""
    return logits.detach().double().softmax(-1).cpu().numpy()


def no_probabilities(n_classes: int) -> np.ndarray:
    """A (0, n_classes) array: what a predictor returns for no inputs, and the head of its concatenation."""
    return np.zeros((0, n_classes), dtype=np.float64)


class ImagePredictor:
    """Predicts labels for image paths, PIL images or arrays."""

    modality = "image"

    def __init__(
        self,
        model: nn.Module,
        class_names: list[str],
        data_cfg: dict,
        device: torch.device | str = "cpu",
        batch_size: int = 32,
        views: int = 1,
    ) -> None:
        """`views` > 1: each input is scored on its probabilities averaged over its dihedral views
        (`runners.views.ViewAveraged`, which `scorer` is)."""
        import torch

        from runners.backbones.registry import adapter_for
        from runners.transforms import eval_transform
        from runners.views import ViewAveraged

        self.model, self.class_names, self.device = model, class_names, torch.device(device)
        self.views = views
        self.scorer = ViewAveraged(model, views)
        self.data_cfg = data_cfg  # input_size, mean, std, interpolation, crop_pct: what an ONNX export writes down
        self.transform = eval_transform(data_cfg["input_size"], data_cfg)
        self.batch_size = batch_size
        try:
            self.adapter: BlockAdapter | None = adapter_for(model)
        except BackboneError:  # a family without blocks predicts whole; it shares no pass in an ensemble
            self.adapter = None

    def input_signature(self) -> tuple[Any, ...]:
        """What decides the tensors `batches` makes: equal signatures, equal states at boundary 0.
        Not the dihedral views: an ensemble turns each batch itself, and members with different
        views share the views they have in common (`EnsemblePredictor._shared_pass`)."""
        cfg = tuple(sorted((k, str(v)) for k, v in self.data_cfg.items()))
        family = type(self.model).__name__ if self.adapter is None else self.adapter.family  # a StageStatsNet too
        return ("image", family, cfg, self.batch_size, str(self.device))

    def batches(self, inputs: list[Any]) -> Iterator[tuple[torch.Tensor, ...]]:
        """The model's input state (boundary 0 of its blocks), `batch_size` inputs at a time, on its device."""
        import torch

        from runners.data.images import to_rgb

        for i in range(0, len(inputs), self.batch_size):
            x = torch.stack([self.transform(to_rgb(item)) for item in inputs[i : i + self.batch_size]])
            yield (x.to(self.device),)

    def predict_proba(self, inputs: list[Any]) -> np.ndarray:
        """Softmax of the logits, (n, n_classes) float64 in `class_names` order."""
        import torch

        self.model.eval().to(self.device)
        chunks = [no_probabilities(len(self.class_names))]
        with torch.no_grad():
            for (x,) in self.batches(inputs):
                chunks.append(softmax_rows(self.scorer(x)))
        return np.concatenate(chunks)

    def predict(self, inputs: list[Any]) -> list[Prediction]:
        """Returns (label, confidence) per input."""
        return top_predictions(self.predict_proba(inputs), self.class_names)


class TextPredictor:
    """Predicts labels for texts with the runner's pooling (masked mean) and classifier."""

    modality = "text"

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        class_names: list[str],
        max_length: int,
        device: torch.device | str = "cpu",
        batch_size: int = 32,
    ) -> None:
        import torch

        from runners.backbones.registry import adapter_for

        self.model, self.tokenizer, self.class_names = model, tokenizer, class_names
        self.adapter = adapter_for(model)
        self.max_length, self.device, self.batch_size = max_length, torch.device(device), batch_size
        self._vocab: tuple[tuple[str, int], ...] | None = None

    def input_signature(self) -> tuple[Any, ...]:
        """What decides the tensors `batches` makes: equal signatures, equal states at boundary 0.
        The sorted vocabulary is built once per predictor, not on every comparison."""
        if self._vocab is None:
            self._vocab = tuple(sorted(self.tokenizer.get_vocab().items()))
        kind = (type(self.model).__name__, type(self.tokenizer).__name__)
        return ("text", kind, self._vocab, self.max_length, self.batch_size, str(self.device))

    def batches(self, inputs: list[str]) -> Iterator[tuple[torch.Tensor, ...]]:
        """(input ids, attention mask) per batch of `batch_size` texts, on the predictor's device."""
        for i in range(0, len(inputs), self.batch_size):
            enc = self.tokenizer(
                list(inputs[i : i + self.batch_size]),
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )
            yield (enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device))

    def predict_proba(self, inputs: list[str]) -> np.ndarray:
        """Softmax of the logits, (n, n_classes) float64 in `class_names` order."""
        import torch

        self.model.eval().to(self.device)
        chunks = [no_probabilities(len(self.class_names))]
        with torch.no_grad():
            for state in self.batches(inputs):
                chunks.append(softmax_rows(self.adapter.forward_from(state, 0)))
        return np.concatenate(chunks)

    def predict(self, inputs: list[str]) -> list[Prediction]:
        """Returns (label, confidence) per text."""
        return top_predictions(self.predict_proba(inputs), self.class_names)


def load_predictor(model_dir: str | Path, device: str = "cpu") -> Predictor:
    """Loads an exported model folder (weights via safetensors / save_pretrained, no pickles).

    Recognised, in this order: an ensemble (`ensemble.json`; members loaded with this function),
    a TF-IDF linear model (`config.json` with `runners.classical.RUNNER_NAME` as its runner), a
    pixel kernel model (`runners.pixels.RUNNER_NAME`), a Hugging Face text model
    (`runners.json`), a timm model (`config.json` with runner "timm").

    Raises:
        RunnerError: the folder was not written by `runners.export`, `runners.classical`, `runners.pixels` or
            `runners.ensemble`.
    """
    from runners.ensemble import ENSEMBLE_CONFIG, load_ensemble

    model_dir = Path(model_dir)
    if (model_dir / ENSEMBLE_CONFIG).exists():
        return load_ensemble(model_dir, device)
    config_path = model_dir / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    # Imported here, not at the top: both modules import this one.
    from runners import classical, pixels

    classical_loaders: dict[str, Callable[[Path], Predictor]] = {
        classical.RUNNER_NAME: classical.load_tfidf,
        pixels.RUNNER_NAME: pixels.load_pixels,
    }
    loader = classical_loaders.get(str(config.get("runner")))
    if loader is not None:
        return loader(model_dir)
    if (model_dir / RUNNERS_CONFIG).exists():
        return _load_hf_text(model_dir, device)
    if not config_path.exists():
        raise RunnerError(f"{model_dir}: no config.json / {RUNNERS_CONFIG}; not an exported runners model")
    if config.get("runner") != "timm":
        raise RunnerError(f"{config_path}: unknown runner {config.get('runner')!r}")
    return _load_timm(model_dir, config, device)


def _load_hf_text(model_dir: Path, device: str) -> TextPredictor:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    extra = json.loads((model_dir / RUNNERS_CONFIG).read_text())
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, trust_remote_code=False)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
    return TextPredictor(model, tokenizer, extra["label_names"], extra["max_length"], device)


def _load_timm(model_dir: Path, config: dict[str, Any], device: str) -> ImagePredictor:
    import timm
    from safetensors.torch import load_file

    from runners.backbones.build import channels_last
    from runners.backbones.timm_blocks import StageStatsNet
    from runners.specs import POOLED_FEATURES, STAGE_STATISTICS, HeadFeatures
    from runners.training.head import head_from_config, replace_module

    model: Any = timm.create_model(
        config["architecture"],
        pretrained=False,
        num_classes=config["num_classes"],
        **{"drop_rate": 0.0, **config.get("model_args", {})},
    )
    features = config.get("head_features", POOLED_FEATURES)
    if features == STAGE_STATISTICS:
        model = StageStatsNet(model, config["num_classes"])
    elif features != POOLED_FEATURES:
        expected = " or ".join(repr(choice) for choice in get_args(HeadFeatures))
        raise RunnerError(f"{model_dir / 'config.json'}: head_features {features!r}: expected {expected}")
    try:
        head = head_from_config(config.get("head"), config["num_classes"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RunnerError(f"{model_dir / 'config.json'}: head {config.get('head')!r}: {exc}") from exc
    if head is not None:
        replace_module(model, model.get_classifier(), head)
    model.load_state_dict(load_file(str(model_dir / "model.safetensors")))
    channels_last(model)
    pcfg = config["pretrained_cfg"]
    data_cfg = {
        "input_size": pcfg["input_size"][-1],
        "mean": tuple(pcfg["mean"]),
        "std": tuple(pcfg["std"]),
        "interpolation": pcfg["interpolation"],
        "crop_pct": pcfg["crop_pct"],
    }
    return ImagePredictor(model, config["label_names"], data_cfg, device, views=int(config.get("views", 1)))
