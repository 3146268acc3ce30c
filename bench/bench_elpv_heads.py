"""A linear head or an RBF head on frozen features, on ELPV, over many splits.

`advisor auto` fits its head-only trials to convergence: logistic regression on the pooled features
(`StageSpec.head_kernel="linear"`) or on their RBF kernel values against up to `RBF_LANDMARKS`
training rows (`"rbf"`, a Nyström map). This bench asks whether the kernel pays on ELPV, where the
features come from a backbone pretrained on very different images: one frozen pass of
EfficientNet-Lite0 per right-angle rotation over every cell (average pooling, the runners' eval
transform), then per split (the runners' `stratified_split`, 60/15/25, seeds 0, 1, …) and task:

* the linear head (`bench_elpv_pooling.head_test_accuracy`, C on validation);
* the RBF head as the runners fit it (`fit_nystrom`, then `fit_linear_head` on the kernel values,
  C on validation over `RBF_CS`);
* with `--svm`, scikit-learn's exact-kernel `SVC` on the same standardised features (C on
  validation), the reference the Nyström map approximates.

Each head is fitted on the 4 rotations of the training cells and scores a cell by its probabilities
(the SVM: decision values) averaged over the 4. Example (about 4 minutes for the passes, then about
a minute per split and task, or 3 with `--svm`, on 2 CPU cores):

    HF_HUB_OFFLINE=1 python bench/bench_elpv_heads.py --splits 8 --cache /tmp/elpv_rotations.npz
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_elpv_pooling import elpv_features, head_test_accuracy, pooled_features, split  # noqa: E402

from runners.training.head import RBF_LANDMARKS, fit_linear_head, fit_nystrom  # noqa: E402

VIEWS = 4
RBF_CS = (0.003, 0.01, 0.03, 0.1)
SVM_CS = (0.3, 1.0, 3.0, 10.0)


def rbf_test_accuracy(features: np.ndarray, labels: np.ndarray, parts: tuple, seed: int) -> tuple[float, float]:
    """(test accuracy, chosen C) of the runners' RBF head, C on validation (ties: the smaller C)."""
    return head_test_accuracy_of_runners(features, labels, parts, seed, RBF_CS, rbf=True)


def head_test_accuracy_of_runners(
    features: np.ndarray, labels: np.ndarray, parts: tuple, seed: int, cs, rbf: bool, gamma_scale: float = 1.0
) -> tuple[float, float]:
    """(test accuracy, chosen C) of the runners' converged head (`fit_linear_head`; with `rbf`, on the
    Nyström map's kernel values, its γ times `gamma_scale`), C on validation among `cs` (ties: the smaller C)."""
    _, test_probs, c = head_probabilities_of_runners(features, labels, parts, seed, cs, rbf, gamma_scale)
    return float(np.mean(test_probs.argmax(-1) == labels[parts[2]])), c


def head_probabilities_of_runners(
    features: np.ndarray, labels: np.ndarray, parts: tuple, seed: int, cs, rbf: bool, gamma_scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray, float]:
    """(validation probabilities, test probabilities, chosen C) of the head `head_test_accuracy_of_runners`
    picks: each cell's class probabilities averaged over its views."""
    train, val, test = parts
    n_classes = int(labels.max()) + 1
    views = features.shape[1]
    rows = lambda idx: torch.from_numpy(features[idx].reshape(len(idx) * views, -1))  # noqa: E731
    transform = fit_nystrom(rows(train), seed, RBF_LANDMARKS, gamma_scale).map if rbf else (lambda x: x)
    mapped = {name: transform(rows(idx)) for name, idx in (("train", train), ("val", val), ("test", test))}
    y = torch.from_numpy(np.repeat(labels[train], views))
    best: tuple[float, np.ndarray, np.ndarray, float] | None = None
    for c in cs:
        c = float(c)
        fit = fit_linear_head(mapped["train"], y, n_classes, c)

        def probabilities(name: str, n: int, fit=fit) -> np.ndarray:
            logits = mapped[name].float() @ fit.weight.T + fit.bias
            return logits.softmax(-1).view(n, views, -1).mean(1).numpy()

        val_probs = probabilities("val", len(val))
        score = float(np.mean(val_probs.argmax(-1) == labels[val]))
        if best is None or score > best[0]:
            best = (score, val_probs, probabilities("test", len(test)), c)
    assert best is not None
    return best[1], best[2], best[3]


def svm_test_accuracy(features: np.ndarray, labels: np.ndarray, parts: tuple) -> float:
    """Test accuracy of scikit-learn's RBF `SVC` on standardised features, C on validation."""
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    train, val, test = parts
    scaler = StandardScaler().fit(features[train].reshape(len(train) * VIEWS, -1))
    rows = lambda idx: scaler.transform(features[idx].reshape(len(idx) * VIEWS, -1))  # noqa: E731
    best: tuple[float, float] | None = None
    for c in SVM_CS:
        svm = SVC(C=c, gamma="scale").fit(rows(train), np.repeat(labels[train], VIEWS))

        def predict(idx: np.ndarray, svm=svm) -> np.ndarray:
            scores = svm.decision_function(rows(idx)).reshape(len(idx), VIEWS, -1).mean(1)
            return (scores[:, 0] > 0).astype(int) if scores.shape[1] == 1 else scores.argmax(1)

        score = float(np.mean(predict(val) == labels[val]))
        if best is None or score > best[0]:
            best = (score, float(np.mean(predict(test) == labels[test])))
    assert best is not None
    return best[1]


def main() -> None:
    with_svm = "--svm" in sys.argv
    if with_svm:
        sys.argv.remove("--svm")
    args, binary, grades, features = elpv_features(
        __doc__,
        lambda n: (n, VIEWS),
        lambda paths: pooled_features(paths, views=VIEWS)[:, :, 0],  # average pooling
    )
    features = features.astype(np.float32)
    se = lambda a: a.std(ddof=1) / np.sqrt(len(a))  # noqa: E731
    names = ["linear", f"RBF, {RBF_LANDMARKS} landmarks"] + (["SVM (exact kernel)"] if with_svm else [])
    for task, data in (("binary", binary), ("4 grades", grades)):
        labels = np.unique(np.array(data.labels), return_inverse=True)[1]
        scores = np.empty((args.splits, len(names)))
        print(f"\nELPV {task}, Lite0 on the {VIEWS} rotations, {len(labels)} cells\n")
        print("| split seed | " + " | ".join(names) + " | RBF's C | seconds |")
        print("|---" * (len(names) + 3) + "|")
        for seed in range(args.splits):
            start = time.perf_counter()
            parts = split(data, seed)
            rbf, c = rbf_test_accuracy(features, labels, parts, seed)
            row = [head_test_accuracy(features, labels, parts), rbf]
            if with_svm:
                row.append(svm_test_accuracy(features, labels, parts))
            scores[seed] = row
            cells = " | ".join(f"{s:.3f}" for s in row)
            print(f"| {seed} | {cells} | {c:g} | {time.perf_counter() - start:.0f} |", flush=True)
        print("| mean ± SE | " + " | ".join(f"{s.mean():.3f} ± {se(s):.3f}" for s in scores.T) + " | | |")
        paired = " | ".join(f"{d.mean():+.3f} ± {se(d):.3f}" for d in (scores[:, 1:] - scores[:, :1]).T)
        print(f"| − linear, paired | — | {paired} | | |")


if __name__ == "__main__":
    main()
