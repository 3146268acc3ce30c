"""Measured similarity on the reference datasets: the table behind rules/profiling.yaml's thresholds.

For each reference set, sample size and seed, one frozen pass per backbone gives BatchNorm drift
(images), token statistics (text), a linear probe against a raw baseline, LogME, and the level the
rules assign. Example (about 5 minutes on 2 CPU cores):

    HF_HUB_OFFLINE=1 python bench/bench_similarity.py --samples 64 256 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from advisor.profiling import profile_dataset  # noqa: E402
from runners.data import offline  # noqa: E402
from runners.specs import InMemoryData  # noqa: E402

IMAGE_BACKBONES = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
# name → (modality, make(n, seed), expected levels from the issue)
REFERENCES: dict[str, tuple[str, Callable[[int, int], InMemoryData], set[str]]] = {
    "photos (scikit-image crops)": ("image", lambda n, s: offline.photo_crops(per_class=n // 4, seed=s), {"similar"}),
    "ELPV solar cells": ("image", lambda n, s: offline.elpv(limit=n, seed=s, balanced=True), {"different"}),
    "sinusoidal stripes": (
        "image",
        lambda n, s: offline.synthetic("stripes", per_class=n // 2, seed=s),
        {"very_different"},
    ),
    "Gaussian noise": ("image", lambda n, s: offline.synthetic("noise", per_class=n // 2, seed=s), {"very_different"}),
    # 8×8 grayscale: raw pixels beat the frozen features (rules/profiling.yaml's raw_inputs_beat_features).
    "scikit-learn digits": (
        "image",
        lambda n, s: offline.digits(limit=n, seed=s),
        {"different", "very_different"},
    ),
    "BBC News": ("text", lambda n, s: offline.bbc_news(per_class=n // 5, seed=s), {"similar", "very_similar"}),
}


def _f(value: float | None, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[64])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--backbones", nargs="+", default=IMAGE_BACKBONES, help="Image backbones to measure with.")
    args = parser.parse_args()
    print(
        "| reference | n | seed | backbone | level | drift low / top | shift | probe | raw | probe − raw | LogME | s "
        "| as expected |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    misses = 0
    for name, (modality, make, expected) in REFERENCES.items():
        backbones = args.backbones if modality == "image" else ["minilm_l6"]
        for n in args.samples:
            for seed in args.seeds:
                data = make(n, seed)
                for backbone in backbones:
                    start = time.perf_counter()
                    report = profile_dataset(data, modality=modality, backbone=backbone, sample=n)  # type: ignore[arg-type]
                    sim = report.evidence.similarity
                    assert sim is not None
                    score = report.evidence.backbones[0]
                    ok = sim.level in expected
                    misses += not ok
                    drift = (
                        f"{_f(sim.low_drift)} / {_f(sim.top_drift)}"
                        if sim.top_drift is not None
                        else (f"{_f(sim.fragmentation)} pieces/word")
                    )
                    print(
                        f"| {name} | {len(data.labels)} | {seed} | {backbone} | {sim.level} | {drift} | {sim.shift or '—'} "
                        f"| {_f(sim.probe_accuracy)} | {_f(sim.raw_probe_accuracy)} | {_f(sim.probe_gain, '+.2f')} "
                        f"| {score.logme:+.3f} "
                        f"| {time.perf_counter() - start:.1f} | {'yes' if ok else 'NO'} |",
                        flush=True,
                    )
    print(f"\n{misses} verdict(s) differ from the expected level.")


if __name__ == "__main__":
    main()
