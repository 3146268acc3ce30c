"""Image folder datasets: `DATA/<class>/*` or `DATA/{train,val,test}/<class>/*`, bad files skipped."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from runners.data import LabelledData, check_classes
from runners.data.formats import IMAGE_SUFFIXES
from runners.errors import DataError

SPLIT_NAMES = ("train", "val", "test")
# Images whose sizes are read to tell the data's native size (headers only: milliseconds).
NATIVE_SAMPLE = 32
log = logging.getLogger(__name__)


def to_rgb(item: Any) -> Image.Image:
    """Opens a path / array / PIL image as an RGB PIL image (grayscale and RGBA converted)."""
    if isinstance(item, (str, Path)):
        with Image.open(item) as img:
            img.load()
            return to_rgb(img)
    if isinstance(item, np.ndarray):
        item = Image.fromarray(item)
    if isinstance(item, Image.Image):
        if item.mode in ("I", "I;16", "I;16B", "F"):  # 16-bit / float grayscale: rescale, PIL would clip
            a = np.asarray(item, dtype=np.float32)
            span = float(a.max() - a.min()) or 1.0
            item = Image.fromarray(((a - a.min()) / span * 255).astype(np.uint8))
        if item.mode in ("RGBA", "LA") or (item.mode == "P" and "transparency" in item.info):
            item = item.convert("RGBA")
            background = Image.new("RGB", item.size, (255, 255, 255))
            background.paste(item, mask=item.split()[3])
            return background
        return item.convert("RGB")
    raise DataError(f"unsupported image input of type {type(item).__name__}")


def native_side(items: list[Any], sample: int = NATIVE_SAMPLE) -> int | None:
    """The images' own size: the median shorter side of up to `sample` of them, spread over the list.

    Files are opened for their header only (PIL decodes lazily); unreadable items are left out.
    None when no item could be measured.
    """
    step = max(1, len(items) // sample)
    sides = []
    for item in items[::step][:sample]:
        try:
            if isinstance(item, (str, Path)):
                with Image.open(item) as img:
                    width, height = img.size
            elif isinstance(item, np.ndarray):
                height, width = item.shape[:2]
            else:
                width, height = item.size
        except Exception:  # noqa: BLE001 - a file that cannot be measured says nothing about the others
            continue
        sides.append(min(width, height))
    return int(sorted(sides)[len(sides) // 2]) if sides else None


def _class_files(class_dir: Path) -> list[Path]:
    return sorted(p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _class_dirs(root: Path) -> list[Path]:
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise DataError(f"{root}: need at least 2 class folders, found {len(class_dirs)}")
    return class_dirs


def image_layout(root: Path | str, problems: list[str] | None = None) -> list[tuple[Path, str, str | None]]:
    """(path, class, pre-split part or None) of every image file under `root`, without opening any.

    With `problems`, a class folder without images is listed there ("FOLDER: what is wrong") and
    left out instead of refused, so a caller can report every problem at once.

    Raises:
        DataError: missing folder, fewer than two class folders, or (without `problems`) a class
            folder without images.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: image dataset folder does not exist")
    subdirs = {p.name for p in root.iterdir() if p.is_dir()}
    presplit = "train" in subdirs and subdirs <= set(SPLIT_NAMES)
    parts: list[tuple[Path, str | None]] = (
        [(root / name, name) for name in SPLIT_NAMES if name in subdirs] if presplit else [(root, None)]
    )
    layout: list[tuple[Path, str, str | None]] = []
    for folder, split in parts:
        for class_dir in _class_dirs(folder):
            files = _class_files(class_dir)
            if not files:
                problem = f"{class_dir}: class folder contains no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
                if problems is None:
                    raise DataError(problem)
                problems.append(problem)
                continue
            layout += [(path, class_dir.name, split) for path in files]
    return layout


class Decoded(NamedTuple):
    """One file of an image layout after its full decode: the image is open only while it is yielded."""

    path: Path
    label: str
    split: str | None
    raw: bytes
    image: Image.Image | None
    error: Exception | None


def decode_each(
    layout: list[tuple[Path, str, str | None]], progress: Callable[[int, int], None] | None = None
) -> Iterator[Decoded]:
    """Every file of `layout` (`image_layout`) read and fully decoded once, in order: the one pass
    both the runners' loader and the profile's scan make.

    The decode is full (`load()`): truncated files pass `verify()` but fail here. A file that cannot
    be read or decoded is yielded with its `error` and no image. `progress` gets (files done, files
    in all) every 64 files and at the end.
    """
    for done, (path, label, split) in enumerate(layout, start=1):
        try:
            raw = path.read_bytes()
            with Image.open(io.BytesIO(raw)) as img:
                img.load()
                yield Decoded(path, label, split, raw, img, None)
        except Exception as exc:  # noqa: BLE001 - any reader or decoder failure means "this file is unusable"
            yield Decoded(path, label, split, b"", None, exc)
        if progress is not None and (done % 64 == 0 or done == len(layout)):
            progress(done, len(layout))


def load_image_folder(root: Path | str, progress: Callable[[int, int], None] | None = None) -> LabelledData:
    """Scans an image folder dataset, decoding every file once to skip unreadable ones.

    `progress`, when given, is called with (files done, files in all) every 64 files and at the end.

    Raises:
        DataError: missing folder, fewer than two classes, or a class folder none of whose images
            can be read.
    """
    root = Path(root)
    layout = image_layout(root)
    data = LabelledData(inputs=[], labels=[], ids=[], source=str(root))
    if layout[0][2] is not None:
        data.presplit = []
    readable: dict[Path, int] = {}
    if progress is not None:
        progress(0, len(layout))
    for item in decode_each(layout, progress):
        readable.setdefault(item.path.parent, 0)
        if item.error is not None:
            data.n_skipped += 1
            data.skipped.append(str(item.path))
            log.warning("skipping unreadable image %s", item.path)
            continue
        readable[item.path.parent] += 1
        data.inputs.append(item.path)
        data.labels.append(item.label)
        data.ids.append(str(item.path.relative_to(root)))
        if data.presplit is not None:
            data.presplit.append(str(item.split))
    for class_dir, kept in readable.items():
        if kept == 0:
            n = sum(1 for p, _, _ in layout if p.parent == class_dir)
            raise DataError(f"{class_dir}: none of its {n} images could be read")
    check_classes(data.labels, str(root))
    return data
