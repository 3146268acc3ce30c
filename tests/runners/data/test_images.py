"""Tests for image folder loading and bad-data handling."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from runners.data.images import load_image_folder, to_rgb
from runners.errors import DataError


def test_loads_classes_and_ids(image_folder: Path):
    data = load_image_folder(image_folder)
    assert sorted(set(data.labels)) == ["class0", "class1", "class2"]
    assert len(data.inputs) == 24 and data.n_skipped == 0
    assert data.ids[0].startswith("class0/")


def test_truncated_and_garbage_files_are_skipped_and_counted(image_folder: Path):
    good = (image_folder / "class0" / "0.png").read_bytes()
    (image_folder / "class0" / "truncated.png").write_bytes(good[: len(good) // 2])
    (image_folder / "class1" / "garbage.jpg").write_bytes(b"not an image")
    data = load_image_folder(image_folder)
    assert data.n_skipped == 2
    assert len(data.inputs) == 24
    assert any("truncated.png" in s for s in data.skipped)


def test_empty_class_folder_is_refused_with_its_path(image_folder: Path):
    (image_folder / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty.*no images"):
        load_image_folder(image_folder)


def test_single_class_is_refused(tmp_path: Path):
    (tmp_path / "only").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "only" / "a.png")
    with pytest.raises(DataError, match=f"{tmp_path}.*at least 2 class"):
        load_image_folder(tmp_path)


def test_presplit_folders_are_kept(image_folder: Path, tmp_path: Path):
    root = tmp_path / "pre"
    for split in ("train", "test"):
        for cls in ("a", "b"):
            (root / split / cls).mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(root / split / cls / f"{i}.png")
    data = load_image_folder(root)
    assert data.presplit.count("train") == 6 and data.presplit.count("test") == 6


def test_grayscale_and_rgba_become_rgb():
    gray = Image.fromarray(np.full((4, 4), 100, dtype=np.uint8))
    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 0))
    assert to_rgb(gray).mode == "RGB" and to_rgb(gray).getpixel((0, 0)) == (100, 100, 100)
    assert to_rgb(rgba).getpixel((0, 0)) == (255, 255, 255)  # fully transparent -> white background


def test_sixteen_bit_grayscale_is_rescaled_not_clipped(tmp_path: Path):
    a = np.linspace(0, 60000, 16, dtype=np.uint16).reshape(4, 4)
    Image.fromarray(a).save(tmp_path / "deep.png")
    rgb = np.asarray(to_rgb(tmp_path / "deep.png"))
    assert rgb.shape == (4, 4, 3) and rgb.min() == 0 and rgb.max() == 255
