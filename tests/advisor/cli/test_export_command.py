"""`advisor export MODEL_DIR --format onnx`: writes the ONNX files, prints their size, latency and the check."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from advisor.cli.main import app

RUNNER = CliRunner()
CLASSES = ["blue", "green", "red"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random ResNet-18 (32 px) exported as `advisor auto` exports image models."""
    import timm

    from runners.export import export_timm

    torch.manual_seed(0)
    model = timm.create_model("resnet18", pretrained=False, num_classes=3).eval()
    cfg = {"input_size": 32, "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25), "crop_pct": 1.0}
    return export_timm(model, "resnet18", CLASSES, cfg, {}, tmp_path_factory.mktemp("export") / "model")


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two PNGs per class, in class sub-folders (as a test split is laid out)."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for c, name in enumerate(CLASSES):
        (root / name).mkdir()
        for i in range(2):
            a = rng.integers(0, 80, (36, 36, 3), dtype=np.uint8)
            a[..., 2 - c] += 150
            Image.fromarray(a).save(root / name / f"{i}.png")
    return root


def test_export_writes_onnx_and_prints_size_latency_and_the_check(model_dir: Path, image_folder: Path) -> None:
    result = RUNNER.invoke(app, ["export", str(model_dir), "--format", "onnx", str(image_folder)])

    assert result.exit_code == 0, result.output
    onnx_file = model_dir / "onnx" / "model.onnx"
    assert onnx_file.is_file() and (model_dir / "onnx" / "preprocessing.json").is_file()
    text = " ".join(result.output.split())
    assert f"({onnx_file.stat().st_size / 1e6:.2f} MB;" in text
    latency = re.search(r"CPU latency: ([0-9.]+) ms per example \(model only, batch 1, 1 CPU thread", text)
    assert latency is not None and float(latency.group(1)) > 0
    assert "onnxruntime check passed on 6 given examples" in text
    assert "same label on 6 of 6" in text


def test_export_json_summary_and_made_up_examples(model_dir: Path, tmp_path: Path) -> None:
    result = RUNNER.invoke(app, ["export", str(model_dir), "--out", str(tmp_path / "phone"), "--json"])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["size_bytes"] == (tmp_path / "phone" / "model.onnx").stat().st_size
    assert summary["latency_ms"] > 0 and summary["kind"] == "image"
    assert summary["checked_on"] == "made-up examples"
    assert summary["check"]["passed"] and summary["check"]["n_examples"] == 16
    assert summary["check"]["max_abs_diff"] <= summary["check"]["tolerance"] == 1e-4


def test_export_refuses_a_folder_that_is_not_a_model(image_folder: Path) -> None:
    result = RUNNER.invoke(app, ["export", str(image_folder), "--format", "onnx"])
    assert result.exit_code == 2
    assert "not a model folder" in " ".join(result.output.split())
    assert "Traceback" not in result.output and not (image_folder / "onnx").exists()


def test_export_refuses_an_unknown_format(model_dir: Path) -> None:
    result = RUNNER.invoke(app, ["export", str(model_dir), "--format", "tflite"])
    assert result.exit_code == 2
    assert "tflite" in result.output
