"""Runners report the input size they fed, the backbone's pretrained size and the images' own size.

What the "Wrong input size" row of the Common Mistakes table is diagnosed from (Best Practices &
Common Pitfalls › Common Mistakes & Solutions).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from runners import StageSpec, get_runner
from runners.data.images import native_side

HEAD_ONLY = [StageSpec(trainable_blocks=0, head_c=0.01, lr_backbone=0.0)]


def test_native_side_is_the_median_shorter_side_of_a_spread_sample(tmp_path: Path) -> None:
    Image.new("RGB", (50, 30)).save(tmp_path / "a.png")
    items = [tmp_path / "a.png", np.zeros((64, 80, 3), np.uint8), Image.new("RGB", (100, 200)), tmp_path / "gone.png"]
    assert native_side(items) == 64  # shorter sides 30, 64, 100; the missing file is left out
    assert native_side([np.zeros((10, 10, 3), np.uint8)] * 5 + [np.zeros((90, 90, 3), np.uint8)] * 5, sample=2) == 90
    assert native_side([]) is None


def test_an_image_trial_reports_fed_pretrained_and_native_sizes(image_spec) -> None:
    # 40×40 colour images fed at 32 px to a (random) ResNet-18, whose pretrained config says 224.
    result = get_runner("image").run(image_spec(stages=HEAD_ONLY))
    assert result.status == "complete"
    assert (result.input_size, result.pretrained_input_size, result.native_image_size) == (32, 224, 40)


def test_a_text_trial_reports_no_input_size(text_spec) -> None:
    result = get_runner("text").run(text_spec(stages=HEAD_ONLY))
    assert result.status == "complete"
    assert (result.input_size, result.pretrained_input_size, result.native_image_size) == (None, None, None)
