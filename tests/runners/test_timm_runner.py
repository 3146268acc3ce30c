"""The image pipeline's loader: decoding in worker processes when a GPU waits on it, the same batches either way."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from runners.data.images import load_image_folder
from runners.data.splits import Split
from runners.timm_runner import MAX_LOADER_WORKERS, ImagePipeline, loader_workers

DATA_CFG = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "interpolation": "bilinear", "crop_pct": 0.875}


@pytest.mark.parametrize(
    ("device", "cuda", "cores", "expected"),
    [
        ("auto", False, 16, 0),  # the CPU: the model needs every core
        ("cpu", True, 16, 0),  # the CPU asked for, a GPU present
        ("auto", True, 16, MAX_LOADER_WORKERS),
        ("cuda", True, 4, 3),  # a core for the process that drives the GPU
        ("cuda", True, 1, 0),
    ],
)
def test_image_loader_workers_feed_a_gpu_and_leave_the_cpu_to_the_model(
    monkeypatch, device, cuda, cores, expected
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    assert loader_workers(device) == expected


def test_worker_processes_decode_the_same_batches_in_the_same_order(tmp_path, colour_images, image_spec) -> None:
    images, labels = colour_images(6, size=48)
    for i, (array, label) in enumerate(zip(images, labels, strict=True)):
        (tmp_path / label).mkdir(exist_ok=True)
        Image.fromarray(array).save(tmp_path / label / f"{i:03d}.png")
    data = load_image_folder(tmp_path)
    n = len(data.labels)
    split = Split(sorted(set(labels)), list(range(n)), [], [], 0, (1.0, 0.0, 0.0))
    order = [int(i) for i in np.random.default_rng(0).permutation(n)]

    def batches(workers: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        pipe = ImagePipeline(data, split, 32, DATA_CFG, image_spec(), workers=workers)
        return [(x, y) for (x,), y in pipe.loader("train", order, False, 5)]

    alone, with_workers = batches(0), batches(2)
    assert [len(y) for _, y in alone] == [5, 5, 5, 3]
    for (x0, y0), (x2, y2) in zip(alone, with_workers, strict=True):
        assert torch.equal(x0, x2) and torch.equal(y0, y2)
    # The order asked for, not the folder's: the labels follow the shuffled indices.
    names = split.class_names
    assert torch.cat([y for _, y in alone]).tolist() == [names.index(data.labels[i]) for i in order]
