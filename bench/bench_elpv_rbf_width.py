"""How wide should the RBF head's kernel be on ELPV: the runners' γ = 1 / d, or narrower or wider?

The RBF head on the stages' statistics of the 4 rotations is the largest member of most ELPV exports
(`bench/bench_export_members.py`), and its kernel width is fixed: γ = 1 / d on standardised features
(`runners.training.head.fit_nystrom`, as scikit-learn's `gamma="scale"` would set it), only C is
searched. This bench scores the runners' RBF head (2,000 landmarks, C on validation over
`bench_elpv_heads.RBF_CS`) with γ times each of `--factors`, on the runners' top state of Lite0 per
rotation (pooled features and the upper stages' means and deviations, read from
`bench/bench_elpv_statistics.py`'s cache or computed as it does), per split (the runners'
`stratified_split`, 60/15/25, seeds 0, 1, …) and task; it prints each split's test accuracy, the
mean ± standard error over splits, and the paired difference to γ = 1 / d. Example (the statistics
bench's cache, or about 4 minutes of passes to make it; then about a minute per split and task):

    HF_HUB_OFFLINE=1 python bench/bench_elpv_rbf_width.py --splits 8 --cache /tmp/elpv_statistics.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_elpv_heads import RBF_CS, head_test_accuracy_of_runners  # noqa: E402
from bench_elpv_layers import VIEWS  # noqa: E402
from bench_elpv_pooling import Scorer, elpv_features, split_tables  # noqa: E402
from bench_elpv_statistics import UPPER, WIDTH, columns, stage_rows  # noqa: E402


def main() -> None:
    def factors_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--factors",
            type=lambda text: [float(f) for f in text.split(",")],
            default=[1.0, 0.25, 0.5, 2.0, 4.0],
            help="multiples of γ = 1 / d to score, comma-separated; the first is the reference",
        )

    args, binary, grades, features = elpv_features(__doc__, lambda n: (n, VIEWS, WIDTH), stage_rows, factors_option)
    runners = np.ascontiguousarray(features[..., columns(UPPER, ("mean", "std"))].astype(np.float32))

    def rbf(factor: float) -> Scorer:
        return lambda labels, parts, seed: head_test_accuracy_of_runners(
            runners, labels, parts, seed, RBF_CS, True, gamma_scale=factor
        )[0]

    scorers = {f"γ × {factor:g}": rbf(factor) for factor in args.factors}
    split_tables(binary, grades, {}, args.splits, f"Lite0 on the {VIEWS} rotations, the runners' RBF head", scorers)


if __name__ == "__main__":
    main()
