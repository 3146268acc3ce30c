"""Models in the local Hugging Face hub cache are found, resolved and built without the network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import timm
from safetensors.torch import save_file

from runners import resolve_backbone
from runners.backbones import hub_cache
from runners.backbones.hub_cache import cached_snapshot, cached_snapshots


def _repo(root: Path, repo_id: str, files: dict[str, Path | str]) -> Path:
    """A hub-cache repository laid out as huggingface_hub writes it: refs/main → snapshots/<hash>/."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / "0123abcd"
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    for name, content in files.items():
        if isinstance(content, Path):
            shutil.copy(content, snap / name)
        else:
            (snap / name).write_text(content)
    return snap


@pytest.fixture
def hub(tmp_path: Path, tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "hub"
    bert_files = {p.name: p for p in tiny_bert_dir.iterdir() if p.is_file()}
    _repo(root, "local/tiny-bert", bert_files)
    weights = tmp_path / "resnet18.safetensors"
    save_file(timm.create_model("resnet18", pretrained=False).state_dict(), str(weights))
    _repo(
        root,
        "timm/resnet18.a1_in1k",
        {"config.json": json.dumps({"architecture": "resnet18"}), "model.safetensors": weights},
    )
    _repo(root, "timm/broken.tag", {"config.json": "{}"})  # no weights: not usable
    _repo(root, "someone/gpt-thing", {"config.json": json.dumps({"model_type": "gpt2"}), "model.safetensors": weights})
    monkeypatch.setattr(hub_cache, "cache_dir", lambda: root)
    return root


def test_usable_cached_models_are_listed_by_modality(hub: Path) -> None:
    assert list(cached_snapshots("image")) == ["resnet18.a1_in1k"]
    assert list(cached_snapshots("text")) == ["local/tiny-bert"]
    assert cached_snapshot("resnet18", "image") == cached_snapshots("image")["resnet18.a1_in1k"]  # default tag
    assert cached_snapshot("resnet50", "image") is None


def test_a_cached_model_resolves_to_its_snapshot_when_the_hub_is_offline(
    hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from runners.backbones.resolve import hub_reachable

    hub_reachable.cache_clear()
    choice = resolve_backbone("resnet18.a1_in1k", "image")
    assert (choice.weights_source, choice.fallback_reason) == ("hub", None)
    assert choice.weights_path == str(cached_snapshots("image")["resnet18.a1_in1k"])
    text = resolve_backbone("local/tiny-bert", "text")
    assert text.weights_source == "hub" and text.weights_path is not None


def test_cached_models_build_with_their_weights(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from safetensors.torch import load_file

    from runners import get_runner
    from runners.backbones.resolve import hub_reachable

    hub_reachable.cache_clear()
    choice = resolve_backbone("resnet18.a1_in1k", "image")
    bundle = get_runner("image").build(choice, ["a", "b"], {})
    stored = load_file(str(Path(str(choice.weights_path)) / "model.safetensors"))
    assert bundle.model.conv1.weight.equal(stored["conv1.weight"])  # weights came from the cache, not random
    assert bundle.model.get_classifier().out_features == 2
    text = get_runner("text").build(resolve_backbone("local/tiny-bert", "text"), ["a", "b"], {})
    assert text.model.config.num_labels == 2
