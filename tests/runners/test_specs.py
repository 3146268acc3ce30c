"""Tests for the pydantic boundary models."""

import pytest
from pydantic import ValidationError

from runners import InMemoryData, StageSpec, TrialSpec
from runners.specs import kept_epoch

from ..curves import epoch_point


def _spec(**kw):
    return TrialSpec(modality="image", backbone="resnet18", data=InMemoryData(inputs=[1, 2], labels=["a", "b"]), **kw)


def test_unknown_field_is_rejected():
    with pytest.raises(ValidationError, match="extra"):
        _spec(learning_rate=0.1)


def test_split_fractions_must_sum_to_one():
    with pytest.raises(ValidationError, match="split_fractions"):
        _spec(split_fractions=(0.5, 0.2, 0.2))


def test_stage_rejects_negative_blocks_and_zero_lr():
    with pytest.raises(ValidationError):
        StageSpec(trainable_blocks=-1)
    with pytest.raises(ValidationError):
        StageSpec(lr_head=0)


def test_in_memory_lengths_must_match():
    with pytest.raises(ValidationError, match="2 inputs but 1 labels"):
        InMemoryData(inputs=[1, 2], labels=["a"])


def test_spec_is_frozen_and_has_defaults():
    spec = _spec()
    assert spec.stages == [StageSpec()]
    assert spec.cache.enabled and spec.cache.n_views == 2
    with pytest.raises(ValidationError):
        spec.seed = 3


def test_import_runners_is_lazy_about_torch():
    import subprocess
    import sys

    code = "import sys, runners; spec = runners.StageSpec(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_kept_epoch_follows_the_monitor_and_skips_non_finite_epochs():
    curve = [
        epoch_point(0, 0, 0.30, 0.80),
        epoch_point(0, 1, float("nan"), 0.95),
        epoch_point(0, 2, 0.50, 0.90),
        epoch_point(0, 3, 0.45, 0.90),
    ]
    assert kept_epoch(curve, "val_loss").epoch == 0
    assert kept_epoch(curve, "val_accuracy").epoch == 3  # 0.90 twice: the lower loss
    assert kept_epoch(curve[1:2], "val_accuracy") is None
