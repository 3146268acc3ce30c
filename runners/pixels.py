"""Kernel logistic regression on raw pixels: the image counterpart of the TF-IDF member.

Where a pretrained backbone sees images unlike its pretraining, its frozen features can lose to the
pixels themselves. On scikit-learn's 8×8 digits blown up to 224 px, frozen EfficientNet-Lite0
features with a converged head score 0.944 test while an RBF kernel on 32×32 pixels scores 0.98
(`bench/bench_peers.py --task digits`). The model: images shrunk to 32×32 RGB, standardised per
pixel, mapped through a Nyström approximation of the RBF kernel (Williams & Seeger, NIPS 2000) on
up to `LANDMARKS` training images, then multinomial logistic regression with C chosen on validation
or by cross-validation. Exported as `config.json` and `pixels.safetensors` (no pickle).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runners.classical import ClassicalCV, c_path, check_labels, choose_on_validation, cross_validate
from runners.errors import DataError, RunnerError
from runners.predict import Prediction, softmax, top_predictions

RUNNER_NAME = "pixel-kernel"
WEIGHTS_FILE = "pixels.safetensors"
PIXEL_SIDE = 32  # images shrunk to 32×32 RGB, the classic tiny-image representation
# Training images the kernel is measured against; 1,000 of digits' 1,078 scored as the exact kernel
# would on validation (0.970), and the map costs a 1,000-column product per image.
LANDMARKS = 1000
PREDICT_CHUNK = 1024
DEFAULT_CS = (0.1, 1, 10, 100)  # measured best: 10 on digits and ELPV binary, 100 on ELPV 4 grades


def raw_pixels(inputs: Sequence[Any]) -> np.ndarray:
    """(n, 32·32·3) float32 matrix of the images (paths, PIL images or arrays) shrunk to 32×32 RGB, in [0, 1]."""
    from PIL import Image

    from runners.data.images import to_rgb

    rows = [
        np.asarray(to_rgb(item).resize((PIXEL_SIDE, PIXEL_SIDE), Image.Resampling.BILINEAR), dtype=np.float32).ravel()
        / np.float32(255.0)
        for item in inputs
    ]
    return np.stack(rows) if rows else np.zeros((0, PIXEL_SIDE * PIXEL_SIDE * 3), dtype=np.float32)


@dataclass(frozen=True)
class PixelRbf:
    """Standardisation of raw pixels and the RBF kernel against landmark images: what a fitted
    `PixelKernelModel` keeps.

    Attributes:
        mean: (d,) float32 per-pixel mean of the training pixels.
        scale: (d,) float32 per-pixel standard deviation (1 where a pixel never varies).
        landmarks: (m, d) float32 standardised training images the kernel is measured against.
        gamma: RBF width, 1 / d (standardised pixels have unit variance; `fit_kernel_map`'s default).
    """

    mean: np.ndarray
    scale: np.ndarray
    landmarks: np.ndarray
    gamma: float

    def rbf(self, pixels: np.ndarray) -> np.ndarray:
        """(n, m) float64 RBF values of raw pixels (as `raw_pixels` makes them) against the landmarks."""
        return _rbf((pixels - self.mean) / self.scale, self.landmarks, self.gamma)


@dataclass(frozen=True)
class KernelMap(PixelRbf):
    """The Nyström map of the RBF kernel fitted on training pixels: `PixelRbf` and its normalisation.

    Attributes:
        normalization: (m, m) float64 inverse square root of the landmarks' kernel matrix.
    """

    normalization: np.ndarray

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        """(n, m) float64 kernel features of raw pixels, on which the logistic regression is fitted."""
        return self.rbf(pixels) @ self.normalization.T


def _rbf(z: np.ndarray, landmarks: np.ndarray, gamma: float) -> np.ndarray:
    """exp(-gamma ||z_i - l_j||²), (n, m) float64."""
    z, landmarks = z.astype(np.float64), landmarks.astype(np.float64)
    squared = (z * z).sum(1)[:, None] - 2.0 * z @ landmarks.T + (landmarks * landmarks).sum(1)[None, :]
    return np.exp(-gamma * np.maximum(squared, 0.0))


def fit_kernel_map(
    pixels: np.ndarray, seed: int = 0, landmarks: int = LANDMARKS, gamma_scale: float = 1.0
) -> KernelMap:
    """Standardises `pixels` and picks `landmarks` of them (seeded) for the Nyström map, with
    γ = `gamma_scale` / d (1, the default: `bench/bench_elpv_rbf_width.py` found no better multiple on ELPV)."""
    mean = pixels.mean(0).astype(np.float32)
    scale = pixels.std(0).astype(np.float32)
    scale[scale < 1e-6] = 1.0
    z = ((pixels - mean) / scale).astype(np.float32)
    chosen = np.sort(np.random.default_rng(seed).permutation(len(z))[: min(landmarks, len(z))])
    basis = z[chosen]
    gamma = gamma_scale / z.shape[1]
    u, s, vt = np.linalg.svd(_rbf(basis, basis, gamma))
    normalization = (u / np.sqrt(np.maximum(s, 1e-12))) @ vt  # K^(-1/2), as scikit-learn's Nystroem
    return KernelMap(mean, scale, basis, gamma, normalization)


class PixelKernelModel:
    """A multinomial logistic regression on the kernel features of a `KernelMap`, its weights folded
    through the map's normalisation (logits = rbf(pixels, landmarks) @ coef.T + intercept), so the
    model keeps the landmarks but not the (m, m) normalisation (8 MB at 1,000 landmarks).

    Attributes:
        kernel: The standardisation and landmarks of the training pixels' `KernelMap`.
        coef: (n_classes, m) float64 weights on the landmarks' RBF values, rows in `class_names` order.
        intercept: (n_classes,) float64.
        class_names: Column order of `predict_proba`.
        c: Inverse regularisation strength the weights were fitted with.
        seed: Seed of the landmark choice (a refit draws its landmarks with it).
        val_accuracy: Validation (or out-of-fold) accuracy that chose `c`; None for a loaded model.
        val_log_loss: Validation log-loss that chose `c`; None for a loaded model.
    """

    modality = "image"

    def __init__(
        self,
        kernel: PixelRbf,
        coef: np.ndarray,
        intercept: np.ndarray,
        class_names: list[str],
        c: float,
        seed: int = 0,
        val_accuracy: float | None = None,
        val_log_loss: float | None = None,
    ) -> None:
        self.kernel, self.coef, self.intercept = kernel, coef, intercept
        self.class_names, self.c, self.seed = list(class_names), float(c), seed
        self.val_accuracy, self.val_log_loss = val_accuracy, val_log_loss

    def proba_of_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Softmax of the linear scores of raw pixels, (n, n_classes) float64 in `class_names` order."""
        return softmax(self.kernel.rbf(pixels) @ self.coef.T + self.intercept)

    def predict_proba(self, inputs: list[Any]) -> np.ndarray:
        """Probabilities of images (paths, PIL images or arrays), (n, n_classes) float64, read
        `PREDICT_CHUNK` at a time (100,000 images would be 1.2 GB of pixels at once)."""
        chunks = [raw_pixels(inputs[i : i + PREDICT_CHUNK]) for i in range(0, len(inputs), PREDICT_CHUNK)]
        return np.concatenate([self.proba_of_pixels(c) for c in chunks or [raw_pixels([])]])

    def predict(self, inputs: list[Any]) -> list[Prediction]:
        """(label, probability) of the most probable class per image."""
        return top_predictions(self.predict_proba(inputs), self.class_names)

    def export(self, model_dir: Path) -> Path:
        """Writes `config.json` (runner, labels, c, side, gamma) and `pixels.safetensors`."""
        from safetensors.numpy import save_file

        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        config = {
            "runner": RUNNER_NAME,
            "label_names": self.class_names,
            "c": self.c,
            "seed": self.seed,
            "side": PIXEL_SIDE,
            "gamma": self.kernel.gamma,
        }
        tensors = {
            "mean": self.kernel.mean,
            "scale": self.kernel.scale,
            "landmarks": self.kernel.landmarks,
            "coef": self.coef,
            "intercept": self.intercept,
        }
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(model_dir / WEIGHTS_FILE))
        (model_dir / "config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
        return model_dir


def _fitted(
    kernel: KernelMap, features: np.ndarray, y: np.ndarray, class_names: list[str], c: float, seed: int
) -> PixelKernelModel:
    ((_, coef, intercept),) = c_path(features, y, class_names, [c])
    bare = PixelRbf(kernel.mean, kernel.scale, kernel.landmarks, kernel.gamma)
    return PixelKernelModel(bare, coef @ kernel.normalization, intercept, class_names, c, seed)


def fit_pixels_at(
    pixels: np.ndarray, labels: Sequence[str], class_names: list[str], c: float, seed: int = 0
) -> PixelKernelModel:
    """The model fitted on `pixels` at a given `c` (e.g. the one cross-validation chose)."""
    y = check_labels(labels, class_names, "train")
    kernel = fit_kernel_map(pixels, seed)
    return _fitted(kernel, kernel(pixels), y, class_names, c, seed)


def fit_pixel_kernel(
    train_pixels: np.ndarray,
    train_labels: Sequence[str],
    val_pixels: np.ndarray,
    val_labels: Sequence[str],
    class_names: list[str],
    cs: Sequence[float] = DEFAULT_CS,
    seed: int = 0,
) -> PixelKernelModel:
    """Fits the model on the training pixels, choosing C on validation (accuracy, then log-loss, then smaller C).

    Raises:
        DataError: a label outside `class_names`, a class without training images, or no validation images.
        ValueError: `cs` is empty.
    """
    if not cs:
        raise ValueError("cs is empty; give at least one C")
    if not len(val_pixels):
        raise DataError("no validation images to choose C with")
    y_train = check_labels(train_labels, class_names, "train")
    y_val = check_labels(val_labels, class_names, "validation")
    kernel = fit_kernel_map(train_pixels, seed)
    features = kernel(train_pixels)
    return choose_on_validation(
        cs,
        lambda c: _fitted(kernel, features, y_train, class_names, c, seed),  # cold: the exported model
        lambda model: model.proba_of_pixels(val_pixels),
        y_val,
    )


def cross_validate_pixels(
    pixels: np.ndarray,
    labels: Sequence[str],
    class_names: list[str],
    folds: Sequence[np.ndarray],
    cs: Sequence[float] = DEFAULT_CS,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> ClassicalCV:
    """k-fold: each fold's standardisation, landmarks and weights come from the other folds.

    Raises:
        DataError: a label outside `class_names`, or a class without images outside a fold.
        ValueError: `cs` or `folds` is empty.
    """

    def held_out(kept: np.ndarray, held: np.ndarray, y: np.ndarray, cs: list[float]) -> Iterator[np.ndarray]:
        kernel = fit_kernel_map(pixels[kept], seed)
        held_features = kernel(pixels[held])
        for _, coef, intercept in c_path(kernel(pixels[kept]), y[kept], class_names, cs):
            yield softmax(held_features @ coef.T + intercept)

    return cross_validate(len(pixels), labels, class_names, folds, cs, held_out, progress)


def load_pixels(model_dir: str | Path) -> PixelKernelModel:
    """Rebuilds an exported pixel kernel model (JSON + safetensors, no pickle).

    Raises:
        RunnerError: the folder holds no pixel kernel model, or one made for another image side.
    """
    from safetensors.numpy import load_file

    model_dir = Path(model_dir)
    config_path = model_dir / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.exists() else {}
    if config.get("runner") != RUNNER_NAME or not (model_dir / WEIGHTS_FILE).exists():
        raise RunnerError(f"{model_dir}: not a {RUNNER_NAME} model (config.json runner + {WEIGHTS_FILE})")
    if config.get("side") != PIXEL_SIDE:
        raise RunnerError(f"{config_path}: side {config.get('side')!r}; this version reads {PIXEL_SIDE}-px models")
    t = load_file(str(model_dir / WEIGHTS_FILE))
    kernel = PixelRbf(t["mean"], t["scale"], t["landmarks"], float(config["gamma"]))
    return PixelKernelModel(kernel, t["coef"], t["intercept"], config["label_names"], config["c"], config["seed"])
