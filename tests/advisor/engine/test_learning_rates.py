"""The learning-rate guide as the engine applies it to each stage."""

from __future__ import annotations

import pytest

from advisor import DatasetProfile, recommend
from advisor.recommendation import Stage


def _stages(**fields: object) -> tuple[Stage, ...]:
    return recommend(DatasetProfile(**fields)).stages  # type: ignore[arg-type]


def test_feature_extraction_head_lr() -> None:
    """'Feature Extraction (frozen base): Classifier head: 1e-3 (0.001) - standard Adam LR'."""
    (stage,) = _stages(modality="image", n_examples=300, n_classes=3)
    assert stage.lr_head == 1e-3 and stage.lr_backbone is None


def test_top_layers_lr_is_ten_times_lower() -> None:
    """'Top 10-20 layers: 1e-4 (0.0001) - 10x lower'; Decision Path B's 1e-5 is the bottom of the search range."""
    stage = _stages(modality="image", n_examples=2000, n_classes=2)[-1]
    assert (stage.lr_backbone, stage.lr_head, stage.lr_backbone_range) == (1e-4, 1e-3, (1e-5, 1e-4))


def test_deeper_layers_lr() -> None:
    """'Top 30-50 layers: 1e-5 (0.00001) - 100x lower'."""
    stage = _stages(modality="image", n_examples=20000, n_classes=2, similarity="different")[-1]
    assert stage.trainable_fraction == 0.5 and stage.lr_backbone == 1e-5


def test_all_layers_layerwise_when_early_features_transfer() -> None:
    """'Layer-wise learning rates: Early layers 1e-6, Middle 1e-5, Top 1e-4, Classifier head 1e-3'."""
    stage = _stages(modality="image", n_examples=120000, n_classes=2, similarity="different")[-1]
    assert stage.trainable_fraction == 1.0
    assert (stage.lr_head, stage.lr_backbone, stage.layerwise_span) == (1e-3, 1e-4, 100)
    decay = stage.layer_decay(n_blocks=7)
    assert decay is not None
    # Over 7 blocks the bottom block's LR is the top's ÷ 100: 1e-4 → 1e-6.
    assert stage.lr_backbone * decay**6 == pytest.approx(1e-6)


def test_from_scratch_uses_the_standard_rate() -> None:
    """Critical Rule: fine-tuning uses '1e-5 instead of 1e-3'; from scratch there is nothing to protect."""
    (stage,) = _stages(modality="image", n_examples=120000, n_classes=2, similarity="very_different")
    assert (stage.trainable_fraction, stage.lr_backbone, stage.lr_head) == (1.0, 1e-3, 1e-3)


def test_nlp_fine_tune_lr_epochs_warmup_weight_decay() -> None:
    """BERT pipeline: 'num_train_epochs=3 # Usually 2-4 epochs', 'learning_rate=2e-5 (typical: 2e-5 to 5e-5)',
    'weight_decay=0.01', 'warmup_steps=500 # Gradual warmup'."""
    (stage,) = _stages(modality="text", n_examples=5000, n_classes=5)
    assert stage.trainable_fraction == 0.2
    assert 2 <= stage.epochs <= 4
    assert (stage.lr_backbone, stage.lr_backbone_range) == (2e-5, (2e-5, 5e-5))
    assert stage.weight_decay == 0.01 and stage.warmup_ratio > 0


def test_fine_tune_rates_are_10_to_100x_below_scratch() -> None:
    """Critical Rule: 'When fine-tuning, ALWAYS use learning rate 10-100x lower than training from scratch'."""
    for fields in (
        dict(modality="image", n_examples=2000, n_classes=2),
        dict(modality="image", n_examples=20000, n_classes=2, similarity="different"),
        dict(modality="text", n_examples=5000, n_classes=5),
    ):
        for stage in _stages(**fields):
            if stage.lr_backbone is not None:
                assert 1e-3 / 100 <= stage.lr_backbone * (1 + 1e-9) and stage.lr_backbone <= 1e-3 / 10 * (1 + 1e-9)
                assert stage.lr_head > stage.lr_backbone
