"""What sharing bottom blocks saves an exported ensemble at prediction time.

Loads an ensemble folder (`advisor auto`'s `model/` when it holds several members), predicts the
same inputs with the shared passes (`EnsemblePredictor.groups`) and with every member run whole,
checks the probabilities agree, and prints seconds per example for both. Example, on the ELPV 4
grades export of `bench_peers.py --task elpv4 --keep` (656 test cells):

    HF_HUB_OFFLINE=1 python bench/bench_shared_pass.py OUT/auto/model DATA/test
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from runners.data.formats import IMAGE_SUFFIXES
from runners.ensemble import load_ensemble


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="an exported ensemble folder (ensemble.json)")
    parser.add_argument("images", type=Path, help="a folder of images (searched recursively) to predict")
    parser.add_argument("--limit", type=int, default=None, help="predict only the first N images")
    args = parser.parse_args()
    torch.set_num_threads(2)
    inputs = sorted(p for p in args.images.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[: args.limit]
    ensemble = load_ensemble(args.model)
    shared_groups = ensemble.groups
    timings, probs = {}, {}
    for name, groups in (("shared passes", shared_groups), ("each member whole", None)):
        ensemble.groups = groups or [([i], 0) for i in range(len(ensemble.members))]
        start = time.perf_counter()
        probs[name] = ensemble.predict_proba(inputs)
        timings[name] = time.perf_counter() - start
    gap = float(np.abs(probs["shared passes"] - probs["each member whole"]).max())
    print(f"{args.model}: {len(ensemble.members)} members, groups {shared_groups}, {len(inputs)} inputs")
    print(f"largest probability difference between the two ways: {gap:.1e}\n")
    print("| way | seconds | ms per example |")
    print("|---|---|---|")
    for name, seconds in timings.items():
        print(f"| {name} | {seconds:.1f} | {1000 * seconds / max(len(inputs), 1):.1f} |")


if __name__ == "__main__":
    main()
