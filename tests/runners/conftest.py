"""Shared fixtures for runners tests: tiny offline image folders, texts and a tiny BERT."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from runners import InMemoryData, StageSpec, TrialSpec

from ..tiny_models import WORDS, save_tiny_bert

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(2)


def colour_images(n_per_class: int = 12, size: int = 40, seed: int = 0) -> tuple[list[np.ndarray], list[str]]:
    """Noisy images whose dominant colour channel is the class: learnable by a tiny CNN in a few steps."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c in range(3):
        for _ in range(n_per_class):
            a = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
            a[..., c] += 150
            images.append(a)
            labels.append(f"class{c}")
    return images, labels


def keyword_texts(n_per_class: int = 12, seed: int = 0) -> tuple[list[str], list[str]]:
    rnd = random.Random(seed)
    texts, labels = [], []
    for label, words in WORDS.items():
        for _ in range(n_per_class):
            texts.append(" ".join(rnd.choices(words.split(), k=rnd.randint(4, 12))))
            labels.append(label)
    return texts, labels


def assert_reloads_and_runs_in_onnx(model_dir: Path, in_memory, images: list) -> None:
    """The exported model in `model_dir` reloads to `in_memory`'s probabilities (1e-6) and its ONNX
    export agrees with the reload within `PROBA_ATOL`."""
    from runners.onnx_export import PROBA_ATOL, export_onnx, load_onnx_predictor
    from runners.predict import load_predictor

    reloaded = load_predictor(model_dir)
    np.testing.assert_allclose(reloaded.predict_proba(images), in_memory.predict_proba(images), atol=1e-6, rtol=0)
    onnx = export_onnx(model_dir, inputs=images)
    assert onnx.check.passed
    np.testing.assert_allclose(
        load_onnx_predictor(onnx.out_dir).predict_proba(images), reloaded.predict_proba(images), atol=PROBA_ATOL, rtol=0
    )


@pytest.fixture(name="colour_images")
def colour_images_fixture():
    """Factory: `colour_images(n_per_class, size, seed)` -> (arrays, labels)."""
    return colour_images


@pytest.fixture(name="keyword_texts")
def keyword_texts_fixture():
    """Factory: `keyword_texts(n_per_class, seed)` -> (texts, labels)."""
    return keyword_texts


STAGES = [
    StageSpec(trainable_blocks=0, epochs=2, lr_head=1e-2),
    StageSpec(trainable_blocks=1, epochs=2, lr_head=1e-3, lr_backbone=1e-3),
]


@pytest.fixture
def image_spec():
    """Factory of small image TrialSpecs (tiny random ResNet-18 at 32 px); keyword args override."""

    def make(**kw) -> TrialSpec:
        images, labels = colour_images(10)
        base = dict(
            modality="image",
            backbone="resnet18",
            weights="none",
            data=InMemoryData(inputs=images, labels=labels),
            stages=STAGES,
            image_size=32,
            batch_size=8,
            seed=3,
        )
        return TrialSpec(**{**base, **kw})

    return make


@pytest.fixture
def text_spec(tiny_bert_dir):
    """Factory of small text TrialSpecs (tiny random BERT); keyword args override."""

    def make(**kw) -> TrialSpec:
        texts, labels = keyword_texts(10)
        base = dict(
            modality="text",
            backbone="tiny-bert",
            weights=str(tiny_bert_dir),
            data=InMemoryData(inputs=texts, labels=labels),
            stages=STAGES,
            batch_size=8,
            max_length=16,
            seed=3,
        )
        return TrialSpec(**{**base, **kw})

    return make


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    images, labels = colour_images(8)
    root = tmp_path / "images"
    for i, (a, label) in enumerate(zip(images, labels, strict=True)):
        (root / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(root / label / f"{i}.png")
    return root


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT with a word-level vocabulary of the test words (random weights)."""
    return save_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))
