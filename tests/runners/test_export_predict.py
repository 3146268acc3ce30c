"""Tests that exported models reload and predict exactly what the in-memory model predicted."""

import json

import torch

from runners import HFTextRunner, StageSpec, TimmRunner
from runners.predict import load_predictor


def _all_convolutions_channels_last(model: torch.nn.Module) -> bool:
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    return bool(convs) and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)


def test_timm_export_reload_predicts_identically(tmp_path, image_spec, colour_images):
    runner = TimmRunner()
    result = runner.run(image_spec(stages=[StageSpec(trainable_blocks=1, epochs=2)], output_dir=tmp_path))
    config = json.loads((result.model_dir / "config.json").read_text())
    # trained and reloaded alike in the NHWC layout (runners.backbones.build.channels_last), saved contiguous
    reloaded = load_predictor(result.model_dir)
    assert _all_convolutions_channels_last(runner.last_predictor.model)
    assert _all_convolutions_channels_last(reloaded.model)
    assert (result.model_dir / "model.safetensors").exists()
    assert config["architecture"] == "resnet18" and config["label_names"] == result.class_names
    assert config["pretrained_cfg"]["input_size"] == [3, 32, 32]
    images = colour_images(3, seed=9)[0]
    before = runner.last_predictor.predict(images)
    after = reloaded.predict(images)
    assert [label for label, _ in before] == [label for label, _ in after]
    assert all(abs(a[1] - b[1]) < 1e-6 for a, b in zip(before, after, strict=True))


def test_text_export_reload_predicts_identically(tmp_path, text_spec, keyword_texts):
    runner = HFTextRunner()
    result = runner.run(text_spec(stages=[StageSpec(trainable_blocks=1, epochs=2)], output_dir=tmp_path))
    config = json.loads((result.model_dir / "config.json").read_text())
    assert config["id2label"] == {str(i): c for i, c in enumerate(result.class_names)}
    texts = keyword_texts(3, seed=9)[0]
    before = runner.last_predictor.predict(texts)
    after = load_predictor(result.model_dir).predict(texts)
    assert [label for label, _ in before] == [label for label, _ in after]
    assert all(abs(a[1] - b[1]) < 1e-6 for a, b in zip(before, after, strict=True))
