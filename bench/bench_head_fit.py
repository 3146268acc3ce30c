"""How fast the converged head solves, and whether the solver's settings change its predictions.

`runners.training.head.fit_linear_head` fits multinomial logistic regression by full-batch L-BFGS.
This bench fits it on ELPV's top states (Lite0's pooled features and stage statistics, 2,688
numbers a cell, as `bench/bench_elpv_layers.py` computes and caches them) under two solver
settings, the float64 solve to a 1e-6 gradient the project used until a8a5fd1 and the float32
solve to 1e-5 it uses since, on the 4 rotations of the training cells (the largest fits a search
runs) and on the cells as they are. For each task, views and C it prints both fits' seconds and
L-BFGS iterations, validation and test accuracy (probabilities averaged over the views), and how
the second's test predictions agree with the first's. Example (the cache from
`bench_elpv_layers.py`, or about 7 minutes of passes to make it; run alone):

    HF_HUB_OFFLINE=1 python bench/bench_head_fit.py --splits 1 --cache /tmp/elpv_top_states.npz
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_elpv_layers import VIEWS, top_states  # noqa: E402
from bench_elpv_pooling import elpv_features, split  # noqa: E402

from runners.training import head  # noqa: E402

SETTINGS = {"float64, 1e-6": (torch.float64, 1e-6), "float32, 1e-5": (torch.float32, 1e-5)}
CS = (0.003, 0.03, 0.3)


def probabilities(fit: head.HeadFit, features: np.ndarray, rows: np.ndarray) -> torch.Tensor:
    """(len(rows), classes) probabilities averaged over the views of `features` (n, views, d)."""
    x = torch.from_numpy(features[rows]).float()
    return (x @ fit.weight.T + fit.bias).softmax(-1).mean(1)


def main() -> None:
    args, binary, grades, features = elpv_features(__doc__, lambda n: (n, VIEWS), top_states)
    features = features.astype(np.float32)
    names = list(SETTINGS)
    print(f"\nConverged head on Lite0's top state ({features.shape[-1]} numbers), {torch.get_num_threads()} threads\n")
    columns = [f"{n}: s, iterations, val, test" for n in names]
    print("| task | split | views | C | " + " | ".join(columns) + " | test agreement, max prob. change |")
    print("|---" * (len(names) + 5) + "|")
    for task, data in (("binary", binary), ("4 grades", grades)):
        labels = np.unique(np.array(data.labels), return_inverse=True)[1]
        for seed in range(args.splits):
            train, val, test = split(data, seed)
            for views in (VIEWS, 1):
                x = torch.from_numpy(features[train, :views].reshape(-1, features.shape[-1]))
                y = torch.from_numpy(np.repeat(labels[train], views))
                for c in CS:
                    cells, reference = [], None
                    for dtype, tolerance in SETTINGS.values():
                        head._SOLVER_DTYPE, head._TOLERANCE_GRAD = dtype, tolerance
                        fit = head.fit_linear_head(x, y, int(labels.max()) + 1, c)
                        p_val = probabilities(fit, features[:, :views], val)
                        p_test = probabilities(fit, features[:, :views], test)
                        val_acc = float((p_val.argmax(-1).numpy() == labels[val]).mean())
                        test_acc = float((p_test.argmax(-1).numpy() == labels[test]).mean())
                        cells.append(f"{fit.seconds:.1f}, {fit.iterations}, {val_acc:.3f}, {test_acc:.3f}")
                        reference = p_test if reference is None else reference
                    agree = float((p_test.argmax(-1) == reference.argmax(-1)).float().mean())
                    change = float((p_test - reference).abs().max())
                    print(
                        f"| {task} | {seed} | {views} | {c} | " + " | ".join(cells) + f" | {agree:.4f}, {change:.4f} |"
                    )


if __name__ == "__main__":
    main()
