"""The quick selection guide: priority and task pick the backbone."""

from __future__ import annotations

from typing import Any

import pytest

from advisor import DatasetProfile, recommend

IMAGE = dict(modality="image", n_examples=1000, n_classes=4)
TEXT = dict(modality="text", n_examples=1000, n_classes=4)


@pytest.mark.parametrize(
    ("fields", "backbone", "alternatives", "sentence"),
    [
        (IMAGE, "resnet50", {"efficientnet_b3", "resnet101"}, "Starting out? → ResNet-50 (tried and true)"),
        (
            {**IMAGE, "priority": "mobile"},
            "mobilenetv2_100",
            {"efficientnet_b0"},
            "Need speed/mobile? → MobileNetV2 or EfficientNet-B0",
        ),
        (
            {**IMAGE, "priority": "speed"},
            "efficientnet_b0",
            {"mobilenetv2_100"},
            "Need speed/mobile? → MobileNetV2 or EfficientNet-B0",
        ),
        (
            {**IMAGE, "priority": "accuracy"},
            "tf_efficientnet_b7",
            {"vit_base_patch16_224"},
            "Maximum accuracy? → EfficientNet-B7 or ViT",
        ),
        (
            {**IMAGE, "priority": "accuracy", "n_examples": 20000},
            "vit_base_patch16_224",
            {"tf_efficientnet_b7"},
            "ViT: State-of-the-art, large datasets",
        ),
        (TEXT, "bert-base-uncased", {"roberta-base"}, "Classification/NER/Q&A? → BERT-base or RoBERTa"),
        (
            {**TEXT, "priority": "speed"},
            "distilbert-base-uncased",
            {"albert-base-v2"},
            "Limited compute? → DistilBERT or ALBERT",
        ),
        (
            {**TEXT, "priority": "accuracy"},
            "bert-large-uncased",
            {"roberta-large"},
            "Maximum performance? → BERT-large or RoBERTa-large",
        ),
        (dict(modality="text", task="generation", n_examples=20000), "gpt2", set(), "Text generation? → GPT-2"),
        (
            dict(modality="text", task="seq2seq", n_examples=20000, priority="speed"),
            "t5-base",
            {"t5-small"},
            "Translation/summarization? → T5",
        ),
        (
            dict(modality="text", task="token_classification", n_examples=3000, n_classes=9),
            "bert-base-uncased",
            {"roberta-base"},
            "Classification/NER/Q&A? → BERT-base",
        ),
    ],
)
def test_selection_guide(fields: dict[str, Any], backbone: str, alternatives: set[str], sentence: str) -> None:
    rec = recommend(DatasetProfile(**fields))
    assert rec.backbone.model_id == backbone, sentence
    assert {a.model_id for a in rec.backbone.alternatives} == alternatives, sentence
    assert rec.backbone.reason


def test_zoo_table_numbers(book: Any) -> None:
    """Computer Vision Models table: 'ResNet-50 25M 76%', 'EfficientNet-B0 5M 77%', 'ViT 86M 85%'."""
    rows = {m.key: (m.params_millions, m.imagenet_top1) for m in book.zoo.models}
    assert rows["resnet50"] == (25, 0.76)
    assert rows["efficientnet_b0"] == (5, 0.77)
    assert rows["vit_base"] == (86, 0.85)
    assert rows["mobilenetv2"] == (3.5, 0.72)
