"""Which views of each cell pay for a head on the stages' statistics: the image, it and its half turn, or the 4 rotations.

Heads fitted on every view of the training cells and scoring a cell by its probabilities averaged
over its views, on Lite0's top state (pooled features and stage statistics, as
`bench/bench_elpv_layers.py` computes and caches them, one state per rotation in `runners.views`'
order: 0, 180, 90, 270 degrees), per split (60/15/25, seeds 0, 1, …) and task, C on validation:
the runners' converged linear head on the first 1, 2 and 4 views, and the RBF head on the first 1
and 2. A view costs one frozen pass over the training and validation cells in the search, and one
over the test cells at prediction time. Example (the layers bench's cache, or about 7 minutes of
passes to make it; then about 5 minutes per split, both tasks, on 2 CPU cores):

    HF_HUB_OFFLINE=1 python bench/bench_elpv_view_sets.py --splits 8 --cache /tmp/elpv_top_states.npz
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_elpv_heads import head_test_accuracy_of_runners, rbf_test_accuracy  # noqa: E402
from bench_elpv_layers import VIEWS, top_states  # noqa: E402
from bench_elpv_pooling import C_GRID, Scorer, elpv_features, split_tables  # noqa: E402


def main() -> None:
    args, binary, grades, features = elpv_features(__doc__, lambda n: (n, VIEWS), top_states)
    features = features.astype(np.float32)

    def linear(views: int) -> Scorer:
        return lambda labels, parts, seed: head_test_accuracy_of_runners(
            features[:, :views], labels, parts, seed, C_GRID, False
        )[0]

    def rbf(views: int) -> Scorer:
        return lambda labels, parts, seed: rbf_test_accuracy(features[:, :views], labels, parts, seed)[0]

    scorers = {
        "linear, 1 view": linear(1),
        "linear, half turn (2)": linear(2),
        "linear, 4 rotations": linear(4),
        "RBF, 1 view": rbf(1),
        "RBF, half turn (2)": rbf(2),
    }
    split_tables(binary, grades, {}, args.splits, "Lite0's top state (pooled + statistics)", scorers)


if __name__ == "__main__":
    main()
