"""Heads on the stages' channel statistics (`TrialSpec.head_features="stage_statistics"`): the state the
EfficientNet adapter caches, the `StageStatsNet` that reads it, and the trial that exports one."""

import json

import numpy as np
import pytest
import timm
import torch

from runners import StageSpec, TimmRunner
from runners.backbones.registry import adapter_for
from runners.backbones.timm_blocks import StageStatsNet
from runners.cache import ActivationCache
from runners.ensemble import EnsemblePredictor
from runners.predict import ImagePredictor, load_predictor

from ..conftest import assert_reloads_and_runs_in_onnx, colour_images

HEAD = StageSpec(trainable_blocks=0, head_c=1.0)
# EfficientNet-Lite0's stage widths (timm's `efficientnet_lite0`); the upper half of its 7 stages is tapped.
TAPPED_WIDTHS = {3: 80, 4: 112, 5: 192, 6: 320}


def _lite0(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return timm.create_model("efficientnet_lite0", pretrained=False, num_classes=3).eval()


def _reference(model: torch.nn.Module, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(pooled features, statistics) computed apart from the adapter: timm's own forward, with hooks on
    the tapped stages, and the statistics in numpy (population standard deviation)."""
    maps: dict[int, np.ndarray] = {}
    hooks = [
        model.blocks[s].register_forward_hook(lambda _m, _i, out, s=s: maps.__setitem__(s, out.detach().numpy()))
        for s in TAPPED_WIDTHS
    ]
    with torch.no_grad():
        pooled = model.forward_head(model.forward_features(x), pre_logits=True).numpy()
    for hook in hooks:
        hook.remove()
    stats = np.concatenate([np.concatenate([maps[s].mean((2, 3)), maps[s].std((2, 3))], 1) for s in TAPPED_WIDTHS], 1)
    return pooled, stats


def test_the_top_state_holds_the_pooled_features_and_the_upper_stages_statistics_from_any_boundary():
    model = _lite0()
    adapter = adapter_for(model)
    x = torch.randn(3, 3, 64, 64)
    pooled, stats = _reference(model, x)
    with torch.no_grad():
        whole = adapter.encode((x,), 0, adapter.n_blocks)
        # A fine-tuning trial's cache holds the state at its boundary; the top state built on from there
        # is the same: the statistics of the tapped stages below the boundary travel with the map.
        middle = adapter.encode((x,), 0, 6)
        resumed = adapter.encode(middle, 6, adapter.n_blocks)
        logits = adapter.forward_from(middle, 6)
    assert stats.shape == (3, 2 * sum(TAPPED_WIDTHS.values()))
    for state in (whole, resumed):
        assert len(state) == 2
        np.testing.assert_allclose(state[0].numpy(), pooled, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(state[1].numpy(), stats, rtol=1e-4, atol=1e-5)
    with torch.no_grad():  # a plain classifier still reads the pooled features only
        np.testing.assert_allclose(logits.numpy(), model(x).numpy(), rtol=1e-4, atol=1e-5)


def test_a_stage_stats_net_classifies_the_pooled_features_and_the_statistics_together():
    model = _lite0()
    x = torch.randn(2, 3, 64, 64)
    pooled, stats = _reference(model, x)
    net = StageStatsNet(model, 3).eval()
    assert net.get_classifier().in_features == 1280 + 2 * sum(TAPPED_WIDTHS.values())
    weight, bias = net.classifier.weight.detach().numpy(), net.classifier.bias.detach().numpy()
    with torch.no_grad():
        np.testing.assert_allclose(
            net(x).numpy(), np.concatenate([pooled, stats], 1) @ weight.T + bias, rtol=1e-4, atol=1e-4
        )
    adapter = adapter_for(net)
    with pytest.raises(ValueError, match="whole pass"):
        adapter.head_input((torch.zeros(2, 1280),))


def test_a_stage_statistics_trial_exports_a_model_that_reloads_and_runs_in_onnx_to_the_same_probabilities(
    tmp_path, image_spec
):
    """The RBF head on the statistics (a linear one is the same model with a plain classifier)."""
    stage = StageSpec(trainable_blocks=0, head_c=1.0, head_kernel="rbf")
    spec = image_spec(
        backbone="efficientnet_lite0",
        image_size=64,
        stages=[stage],
        head_features="stage_statistics",
        head_cv_folds=3,
        dihedral_views=4,
        output_dir=tmp_path,
    )
    runner = TimmRunner(cache=ActivationCache())
    result = runner.run(spec)

    assert result.status == "complete" and result.cv_accuracy is not None
    assert result.best_val_accuracy is not None and result.best_val_accuracy > 0.5  # three classes: chance is a third
    config = json.loads((result.model_dir / "config.json").read_text())
    assert config["head_features"] == "stage_statistics"
    width = 1280 + 2 * sum(TAPPED_WIDTHS.values())
    assert config["head"] == {"kind": "rbf", "features": width, "landmarks": 4 * result.n_train}
    assert isinstance(load_predictor(result.model_dir).model, StageStatsNet)
    assert_reloads_and_runs_in_onnx(result.model_dir, runner.last_predictor, colour_images(3, seed=9)[0])


def test_a_stage_stats_member_shares_the_backbone_pass_with_plain_and_fine_tuned_members():
    classes = ["red", "green", "blue"]
    cfg = {"input_size": 64, "mean": (0.5,) * 3, "std": (0.5,) * 3, "interpolation": "bilinear", "crop_pct": 1.0}
    plain = _lite0()
    tuned = _lite0()
    with torch.no_grad():
        for p in tuned.blocks[-1].parameters():  # fine-tuned its top stage
            p.add_(0.01)
    stats = StageStatsNet(_lite0(), 3).eval()
    members = [ImagePredictor(m, classes, cfg, views=v) for m, v in ((plain, 1), (tuned, 1), (stats, 4))]
    images = colour_images(3, size=40, seed=9)[0]
    alone = [m.predict_proba(images) for m in members]
    ensemble = EnsemblePredictor(list(zip(members, [0.5, 0.3, 0.2], strict=True)), classes)
    # All three share the blocks below the tuned top stage; the stats member's statistics of the stages
    # below it come from the shared pass.
    assert ensemble.groups == [([0, 1, 2], 7)]
    expected = sum(w * p for w, p in zip([0.5, 0.3, 0.2], alone, strict=True))
    np.testing.assert_allclose(ensemble.predict_proba(images), expected, rtol=0, atol=1e-6)


def test_stage_statistics_are_refused_where_the_model_has_no_stages_to_tap(image_spec, text_spec):
    result = TimmRunner(cache=ActivationCache()).run(image_spec(stages=[HEAD], head_features="stage_statistics"))
    assert result.status == "failed" and result.error is not None
    assert "head_features='stage_statistics' taps the stages of an EfficientNet-family model" in result.error
    assert "resnet18 is a ResNet" in result.error
    with pytest.raises(ValueError, match="reads image feature maps; modality='text'"):
        text_spec(stages=[HEAD], head_features="stage_statistics")
    with pytest.raises(ValueError, match="stage 1 trains for epochs"):
        image_spec(stages=[HEAD, StageSpec(trainable_blocks=1, epochs=1)], head_features="stage_statistics")
