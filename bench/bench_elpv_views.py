"""Do the 8 dihedral views beat the 4 rotations on ELPV, over many splits?

`advisor auto --dihedral-views auto` lets its head-only trials choose between the image as it is and
its 4 right-angle rotations (`advisor.auto.config.AUTO_DIHEDRAL_VIEWS`); the 8 views (the rotations
and their mirror images) cost 4 more frozen passes at search and at prediction time. On one split
they scored 0.797 against 0.793 (`bench/bench_frozen_views.py`). This bench asks the question over
`--splits` stratified 60/15/25 splits (the runners' `stratified_split`, seeds 0, 1, …), as
`bench_elpv_pooling.py` does: one frozen pass of EfficientNet-Lite0 per view over every cell
(average pooling, the runners' eval transform), then per split and task a converged head fitted on
the first 1, 4 or 8 views with C chosen on validation, scored on test by its probabilities averaged
over the same views. Example (about 8 minutes for the passes and 10 for the heads on 2 CPU cores):

    HF_HUB_OFFLINE=1 python bench/bench_elpv_views.py --splits 8 --cache /tmp/elpv_views.npz
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_elpv_pooling import elpv_features, pooled_features, split_tables  # noqa: E402

VIEW_COUNTS = (1, 4, 8)


def main() -> None:
    views = max(VIEW_COUNTS)
    args, binary, grades, features = elpv_features(
        __doc__,
        lambda n: (n, views),
        lambda paths: pooled_features(paths, views=views)[:, :, 0],  # average pooling
    )
    columns = {f"{n} view{'s' if n > 1 else ''}": features[:, :n] for n in VIEW_COUNTS}
    split_tables(binary, grades, columns, args.splits, "Lite0 at its pretrained input size, average pooling")


if __name__ == "__main__":
    main()
