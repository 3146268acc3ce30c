"""Read a dataset once for profiling: every example's label, split, content hash and (images) size and mode.

Unlike the runners' loader, nothing here refuses a bad example or an empty class folder: unreadable
images, rows without a label and class folders without examples are collected as `FileProblem`s so
the profile can list them all in one pass.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from advisor.profile import Modality
from advisor.profiling.evidence import DuplicateGroup, Duplicates, FileProblem, ImageStats
from runners.data.formats import guess_modality
from runners.data.images import decode_each, image_layout
from runners.data.text import load_text_folder, load_text_table
from runners.specs import InMemoryData

# Mean absolute difference (grey levels of 255) between 32×32 thumbnails under which two images with
# the same difference hash count as copies. Resized/re-encoded copies measured 0.3–0.4; different
# ELPV cells sharing a hash 4.2–7.7.
NEAR_MAX_DIFF = 2.0
_MAX_GROUPS_SHOWN = 20
_WHITESPACE = re.compile(r"\s+")
# What decoders print for the in-memory file they were handed: `<_io.BytesIO object at 0x7f…>`.
_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")


@dataclass
class Scanned:
    """A dataset as profiling sees it; `inputs`, `labels`, `ids`, `splits`, `hashes` run in parallel."""

    source: str
    modality: Modality
    inputs: list[Any] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    splits: list[str | None] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    image_meta: list[tuple[int, int, str]] = field(default_factory=list)
    visual: list[str] = field(default_factory=list)
    thumbs: list[np.ndarray] = field(default_factory=list)
    corrupted: list[FileProblem] = field(default_factory=list)
    layout_problems: list[FileProblem] = field(default_factory=list)

    def add(self, item: Any, label: str, ident: str, split: str | None, digest: str) -> None:
        self.inputs.append(item)
        self.labels.append(label)
        self.ids.append(ident)
        self.splits.append(split)
        self.hashes.append(digest)

    @property
    def per_class(self) -> dict[str, int]:
        return dict(sorted(Counter(self.labels).items()))

    @property
    def presplit(self) -> dict[str, int] | None:
        if all(s is None for s in self.splits):
            return None
        return dict(Counter(str(s) for s in self.splits))


def scan_path(
    path: Path | str,
    modality: Modality | None = None,
    text_column: str = "text",
    label_column: str = "label",
    encoding: str = "utf-8",
    progress: Callable[[int, int], None] | None = None,
) -> Scanned:
    """Reads every example under `path` (image folder, text table or text folder).

    Raises:
        DataError: the layout itself is unusable (missing path, fewer than two classes, missing
            columns), naming the path and what is wrong.
    """
    path = Path(path).expanduser()
    modality = modality or guess_modality(path)
    if modality == "image":
        return _scan_images(path, progress)
    if path.is_dir():
        data = load_text_folder(path, encoding, skip_bad=True)
    else:
        data = load_text_table(path, text_column, label_column, encoding, skip_bad=True)
    scanned = Scanned(source=str(path), modality="text")
    scanned.corrupted = _problems(data.skipped, path)
    scanned.layout_problems = _problems(data.layout_problems, path)
    presplit: list[str | None] = list(data.presplit) if data.presplit else [None] * len(data.inputs)
    for text, label, ident, split in zip(data.inputs, data.labels, data.ids, presplit, strict=True):
        scanned.add(text, label, ident, split, text_hash(text))
    return scanned


def _problems(messages: list[str], source: Path) -> list[FileProblem]:
    """`FileProblem`s of the loaders' "PATH: why" messages."""
    return [FileProblem(path=_problem_path(m, source), reason=_problem_reason(m)) for m in messages]


def decoder_reason(exc: BaseException, file: Path | str) -> str:
    """An image decoder's error as "Type: message", naming `file` where the decoder showed an object address."""
    return f"{type(exc).__name__}: {_OBJECT_REPR.sub(repr(str(file)), str(exc))}"


def _problem_path(message: str, source: Path) -> str:
    head = message.split(": ", 1)[0]
    return head if head.startswith(str(source)) else str(source)


def _problem_reason(message: str) -> str:
    return message.split(": ", 1)[1] if ": " in message else message


def text_hash(text: str) -> str:
    """Hash of a text with runs of whitespace collapsed and ends stripped (what "exact duplicate" means here)."""
    return hashlib.sha256(_WHITESPACE.sub(" ", text).strip().encode("utf-8")).hexdigest()


def _scan_images(root: Path, progress: Callable[[int, int], None] | None) -> Scanned:
    problems: list[str] = []
    layout = image_layout(root, problems)
    scanned = Scanned(source=str(root), modality="image", layout_problems=_problems(problems, root))
    for item in decode_each(layout, progress):
        try:
            if item.image is None:
                raise item.error or ValueError("not decoded")
            meta = (item.image.width, item.image.height, item.image.mode)
            visual, thumb = difference_hash(item.image), thumbnail(item.image)
        except Exception as exc:  # noqa: BLE001 - every decoder failure is a reportable problem
            scanned.corrupted.append(FileProblem(path=str(item.path), reason=decoder_reason(exc, item.path)))
            continue
        sha = hashlib.sha256(item.raw).hexdigest()
        scanned.add(item.path, item.label, str(item.path.relative_to(root)), item.split, sha)
        scanned.image_meta.append(meta)
        scanned.visual.append(visual)
        scanned.thumbs.append(thumb)
    return scanned


def scan_memory(data: InMemoryData, modality: Modality, source: str = "<memory>") -> Scanned:
    """`Scanned` for in-memory examples (arrays / PIL images, or strings)."""
    from PIL import Image

    from runners.data.images import to_rgb

    scanned = Scanned(source=source, modality=modality)
    splits: list[str | None] = list(data.split) if data.split else [None] * len(data.inputs)
    for i, (item, label, split) in enumerate(zip(data.inputs, data.labels, splits, strict=True)):
        if modality == "text":
            scanned.add(item, label, str(i), split, text_hash(str(item)))
            continue
        try:
            if isinstance(item, (str, Path)):
                with Image.open(item) as opened:
                    opened.load()
                    mode = opened.mode
                image = to_rgb(item)
                digest = hashlib.sha256(Path(item).read_bytes()).hexdigest()
            else:
                image = to_rgb(item)
                mode = getattr(item, "mode", None) or _array_mode(item)
                digest = hashlib.sha256(np.asarray(image).tobytes()).hexdigest()
        except Exception as exc:  # noqa: BLE001 - every decoder failure is a reportable problem
            name = f"{source}[{i}]"
            where = item if isinstance(item, (str, Path)) else name
            scanned.corrupted.append(FileProblem(path=name, reason=decoder_reason(exc, where)))
            continue
        scanned.add(item, label, str(i), split, digest)
        scanned.image_meta.append((image.width, image.height, mode))
        scanned.visual.append(difference_hash(image))
        scanned.thumbs.append(thumbnail(image))
    return scanned


def _array_mode(item: Any) -> str:
    array = np.asarray(item)
    return "L" if array.ndim == 2 else ("RGBA" if array.shape[-1] == 4 else "RGB")


def difference_hash(image: Any) -> str:
    """64-bit difference hash: signs of horizontal brightness steps on a 9×8 thumbnail, as hex.

    Re-encoding, resizing and small colour changes keep it; it tells copies apart from
    different pictures, not similar pictures from each other.
    """
    from PIL import Image

    small = np.asarray(image.convert("L").resize((9, 8), Image.Resampling.BILINEAR), dtype=np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def thumbnail(image: Any) -> np.ndarray:
    """32×32 grayscale thumbnail (uint8) that confirms a difference-hash match."""
    from PIL import Image

    return np.asarray(image.convert("L").resize((32, 32), Image.Resampling.BILINEAR), dtype=np.uint8)


def _confirmed(members: list[int], thumbs: list[np.ndarray]) -> list[list[int]]:
    """Splits a difference-hash bucket into groups whose thumbnails differ by ≤ NEAR_MAX_DIFF (linked pairs)."""
    parent = {i: i for i in members}

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for a, b in itertools.combinations(members, 2):
        if np.abs(thumbs[a].astype(np.int16) - thumbs[b].astype(np.int16)).mean() <= NEAR_MAX_DIFF:
            parent[root(a)] = root(b)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in members:
        groups[root(i)].append(i)
    return list(groups.values())


def find_duplicates(scanned: Scanned, near: bool = False) -> Duplicates:
    """Groups examples by content hash; flags groups spanning pre-split parts (leakage) or labels.

    With `near`, images are grouped by `difference_hash`, confirmed on thumbnails (different
    pictures of the same kind share a hash surprisingly often: ELPV cells do), and groups whose
    members are all byte-identical (already exact duplicates) are left out.
    """
    keys = scanned.visual if near else scanned.hashes
    by_hash: dict[str, list[int]] = defaultdict(list)
    for i, digest in enumerate(keys):
        by_hash[digest].append(i)
    buckets = list(by_hash.values())
    if near:
        buckets = [group for bucket in buckets if len(bucket) > 1 for group in _confirmed(bucket, scanned.thumbs)]
    groups = []
    for members in buckets:
        if len(members) < 2 or (near and len({scanned.hashes[i] for i in members}) == 1):
            continue
        groups.append(
            DuplicateGroup(
                ids=tuple(scanned.ids[i] for i in members),
                labels=tuple(sorted({scanned.labels[i] for i in members})),
                splits=tuple(sorted({str(scanned.splits[i]) for i in members if scanned.splits[i] is not None})),
            )
        )
    leaked = [g for g in groups if len(g.splits) > 1]
    conflicts = [g for g in groups if len(g.labels) > 1]
    shown = sorted(groups, key=lambda g: (len(g.splits) < 2, len(g.labels) < 2, -len(g.ids)))[:_MAX_GROUPS_SHOWN]
    return Duplicates(
        n_groups=len(groups),
        n_extra_copies=sum(len(g.ids) - 1 for g in groups),
        n_leaked_groups=len(leaked),
        n_label_conflicts=len(conflicts),
        groups=tuple(shown),
    )


def image_stats(scanned: Scanned) -> ImageStats | None:
    """Size and channel summary of the readable images (None when there are none)."""
    if not scanned.image_meta:
        return None
    widths = np.array([w for w, _, _ in scanned.image_meta])
    heights = np.array([h for _, h, _ in scanned.image_meta])
    modes = Counter(mode for _, _, mode in scanned.image_meta)
    gray = sum(n for mode, n in modes.items() if mode in ("L", "LA", "I", "I;16", "I;16B", "F", "1"))
    return ImageStats(
        width=(int(widths.min()), int(np.median(widths)), int(widths.max())),
        height=(int(heights.min()), int(np.median(heights)), int(heights.max())),
        modes=dict(modes),
        grayscale_share=gray / len(scanned.image_meta),
    )
