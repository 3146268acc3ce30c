"""Tests for the activation cache store (LRU cap, disk tier, keys)."""

from pathlib import Path

import torch

from runners.cache import ActivationCache, make_key, prefix_fingerprint


def test_lru_respects_memory_cap():
    cache = ActivationCache(max_memory_mb=1)
    big = (torch.zeros(100_000),)  # 0.4 MB
    for key in "abc":
        cache.put(key, big)
    assert cache.get("a") is None and cache.get("c") is not None


def test_disk_round_trip(tmp_path: Path):
    value = (torch.arange(6.0).view(2, 3), torch.ones(2, dtype=torch.long))
    ActivationCache(disk_dir=tmp_path).put("k", value)
    loaded = ActivationCache(disk_dir=tmp_path).get("k")
    assert all(torch.equal(a, b) for a, b in zip(loaded, value, strict=True))


def test_disk_cap_deletes_oldest(tmp_path: Path):
    cache = ActivationCache(disk_dir=tmp_path, max_disk_mb=1)
    for key in "abc":
        cache.put(key, (torch.zeros(100_000),))
    assert len(list(tmp_path.glob("*.safetensors"))) == 2


def test_fingerprint_changes_with_weights():
    lin = torch.nn.Linear(2, 2)
    before = prefix_fingerprint([lin], [])
    with torch.no_grad():
        lin.weight += 1
    assert prefix_fingerprint([lin], []) != before
    assert make_key(a=1, b=[1, 2]) == make_key(b=[1, 2], a=1)
