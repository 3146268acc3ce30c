"""Frozen-prefix activation cache: boundary activations computed once, reused across epochs and trials.

Entries are keyed by a hash of the frozen prefix's weights and buffers (which pins backbone, weights
and boundary), the split's example ids and the input transform. Memory is an LRU capped in bytes;
an optional disk tier stores safetensors files, oldest deleted first beyond its cap.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from pathlib import Path

import torch

Tensors = tuple[torch.Tensor, ...]


def prefix_fingerprint(modules: list[torch.nn.Module], params: list[torch.nn.Parameter]) -> str:
    """Hash of every tensor that determines the frozen prefix's output."""
    h = hashlib.sha256()
    for m in modules:
        for name, t in m.state_dict().items():
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    for p in params:
        h.update(p.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def make_key(**parts: object) -> str:
    """Stable hash of JSON-serialisable key parts."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _nbytes(tensors: Tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


class ActivationCache:
    """Two-tier (memory LRU + optional disk) store of activation tuples."""

    def __init__(self, max_memory_mb: int = 2048, disk_dir: Path | None = None, max_disk_mb: int = 4096) -> None:
        self.max_memory = max_memory_mb * 2**20
        self.disk_dir = Path(disk_dir) if disk_dir else None
        self.max_disk = max_disk_mb * 2**20
        self._mem: OrderedDict[str, Tensors] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Tensors | None:
        with self._lock:
            if key in self._mem:
                self._mem.move_to_end(key)
                self.hits += 1
                return self._mem[key]
        if self.disk_dir is not None and (self.disk_dir / f"{key}.safetensors").exists():
            from safetensors.torch import load_file

            loaded = load_file(str(self.disk_dir / f"{key}.safetensors"))
            value = tuple(loaded[str(i)] for i in range(len(loaded)))
            self.hits += 1
            self._put_memory(key, value)
            return value
        self.misses += 1
        return None

    def put(self, key: str, value: Tensors) -> None:
        value = tuple(t.detach().cpu().contiguous() for t in value)
        self._put_memory(key, value)
        if self.disk_dir is not None and _nbytes(value) <= self.max_disk:
            from safetensors.torch import save_file

            self.disk_dir.mkdir(parents=True, exist_ok=True)
            save_file({str(i): t for i, t in enumerate(value)}, str(self.disk_dir / f"{key}.safetensors"))
            self._trim_disk()

    def _put_memory(self, key: str, value: Tensors) -> None:
        if _nbytes(value) > self.max_memory:
            return
        with self._lock:
            self._mem[key] = value
            self._mem.move_to_end(key)
            while sum(_nbytes(v) for v in self._mem.values()) > self.max_memory:
                self._mem.popitem(last=False)

    def _trim_disk(self) -> None:
        assert self.disk_dir is not None
        files = sorted(self.disk_dir.glob("*.safetensors"), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        while files and total > self.max_disk:
            oldest = files.pop(0)
            total -= oldest.stat().st_size
            oldest.unlink(missing_ok=True)

    def clear(self) -> None:
        with self._lock:
            self._mem.clear()


_SHARED: dict[tuple, ActivationCache] = {}


def shared_cache(max_memory_mb: int, disk_dir: Path | None, max_disk_mb: int) -> ActivationCache:
    """Process-wide cache per settings, so successive trials (e.g. an HPO study) share activations."""
    key = (max_memory_mb, str(disk_dir), max_disk_mb)
    if key not in _SHARED:
        _SHARED[key] = ActivationCache(max_memory_mb, disk_dir, max_disk_mb)
    return _SHARED[key]
