"""A linear head fitted to convergence on frozen features, and its k-fold cross-validation.

On cached features a linear head is a convex problem: L2-regularised multinomial logistic regression.
A few epochs of AdamW at the guide's 1e-3 leave it under-fitted (the issue that made this module
measured 0.842 against 0.945 on BBC 20/class); full-batch L-BFGS solves it in milliseconds to
seconds. `c` is scikit-learn's inverse regularisation strength (`LogisticRegression(C=c)`) on
standardised features: minimise Σ wᵢ·CE(xᵢ) + ‖W‖² / (2c). The standardisation is folded back
into the weights, so the result is a plain `nn.Linear` on the raw features. A channel whose spread
is under a tenth of the median channel's is standardised by that tenth (see `fit_linear_head`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

# L-BFGS stops when the largest gradient entry of the (per-example averaged) objective is below this.
# On ELPV's top states (4 rotations of 1,575 cells × 2,688 numbers, C 0.003–0.3) a fit at 1e-5 in
# float32 predicts the test cells as one at 1e-6 in float64 does (at most 1 of 656 differs,
# probabilities within 0.03) in 2–8× less time: 7.1 s instead of 27.7 s at C 0.03 on 4 grades,
# 2 CPU cores (bench/bench_head_fit.py).
_TOLERANCE_GRAD = 1e-5
# What the solver computes in: the standardisation is measured in float64, the fit in this.
_SOLVER_DTYPE = torch.float32
# Smallest spread a channel is standardised by, as a share of the median channel's.
_STD_FLOOR = 0.1
# Fits up to this many feature entries (n × d) run on one CPU thread.
_SMALL_FIT = 20_000_000
# An RBF head's landmarks (`StageSpec.head_kernel="rbf"`): training rows the kernel is measured
# against. On ELPV (Lite0, 1,575 training cells × 4 rotations = 6,300 rows) the map takes about 7 s
# and a fit 3–25 s on 2 CPU cores, and over 8 splits the head beat the linear one by 0.7 points
# (binary) and 1.5 (4 grades) (bench/bench_elpv_heads.py); in a scratch run 1,000 landmarks scored
# about half a point under 2,500 (4 splits). The head keeps them: 2,000 × d floats (10 MB for Lite0).
RBF_LANDMARKS = 2000


@dataclass(frozen=True)
class HeadFit:
    """Weights of a converged linear head in the raw feature space."""

    weight: torch.Tensor  # (n_classes, n_features)
    bias: torch.Tensor  # (n_classes,)
    iterations: int
    seconds: float


@dataclass(frozen=True)
class HeadScore:
    """Cross-validated accuracy of one regularisation strength.

    `probabilities` are the out-of-fold predictions, (n examples, n_classes) float64 in the order of
    the labels: each example scored by the head fitted without its fold (ensemble selection on
    small data weighs members on these rather than on a small validation split).
    """

    accuracy: float
    stderr: float
    log_loss: float
    folds: int
    probabilities: np.ndarray | None = None


def fit_linear_head(
    features: torch.Tensor,
    labels: torch.Tensor,
    n_classes: int,
    c: float,
    sample_weight: torch.Tensor | None = None,
    max_iter: int = 1000,
) -> HeadFit:
    """Fits W, b minimising Σ wᵢ·CE(W xᵢ + b, yᵢ) + ‖W‖² / (2c) to convergence (bias unpenalised).

    Args:
        features: (n, d) frozen features; any float dtype, any device.
        labels: (n,) class ids.
        c: Inverse regularisation strength, as scikit-learn's `C`.
        sample_weight: Optional (n,) weights (class weights per example).
    """
    start = time.perf_counter()
    x = features.detach().double()
    y = labels.to(x.device).long()
    mean, std = x.mean(0), x.std(0, unbiased=False)
    # Near-dead channels (pooled CNN features that are almost always zero) are standardised as if
    # their spread were `_STD_FLOOR` of the median channel's: plain standardisation blows them up,
    # and the folded weight (w / std) reaches 80 on ELPV, where a fine-tuned block that wakes the
    # channel turns it into logits in the hundreds. Healthy channels are standardised as scikit-learn does.
    std = std.clamp_min(max(1e-6, _STD_FLOOR * float(std.median())))
    z = ((x - mean) / std).to(_SOLVER_DTYPE)
    del x  # the float64 copy is done with: on ELPV's 4 rotations with the statistics, 169 MB through the solve
    n, d = z.shape
    w = torch.ones(n, dtype=z.dtype, device=z.device) if sample_weight is None else sample_weight.to(z)
    # Divided by n so the scale (and L-BFGS's tolerances) do not depend on the number of examples.
    scale, penalty = 1.0 / n, 1.0 / (2.0 * c * n)
    weight = torch.zeros(n_classes, d, dtype=z.dtype, device=z.device, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=z.dtype, device=z.device, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=_TOLERANCE_GRAD,
        tolerance_change=1e-12,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        ce = torch.nn.functional.cross_entropy(z @ weight.T + bias, y, reduction="none")
        loss = scale * (w * ce).sum() + penalty * (weight * weight).sum()
        loss.backward()
        return loss

    with torch.enable_grad(), _single_thread(z.device, n * d):
        optimizer.step(closure)
    iterations = int(optimizer.state[optimizer._params[0]].get("n_iter", 0))
    folded = weight.detach().double() / std
    return HeadFit(
        weight=folded.float(),
        bias=(bias.detach().double() - folded @ mean).float(),
        iterations=iterations,
        seconds=time.perf_counter() - start,
    )


@contextlib.contextmanager
def _single_thread(device: torch.device, size: int) -> Iterator[None]:
    """One CPU thread for small fits: the matrices are too small to share, and with the other core
    busy two threads wait on each other (measured here: 40 ms against 0.8 ms per step at 620 × 1280)."""
    if device.type != "cpu" or size > _SMALL_FIT:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class RbfFeatures(torch.nn.Module):
    """exp(-γ‖(x − mean) / scale − lⱼ‖²) against m landmark rows: the kernel side of an RBF head.

    Buffers (saved with the model): `mean` and `scale` (d,) standardise the pooled features,
    `landmarks` (m, d) are standardised training rows, `gamma` is 1 / d (`fit_nystrom`'s default).
    """

    mean: torch.Tensor
    scale: torch.Tensor
    landmarks: torch.Tensor
    gamma: torch.Tensor

    def __init__(self, n_features: int, n_landmarks: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self.register_buffer("landmarks", torch.zeros(n_landmarks, n_features))
        self.register_buffer("gamma", torch.tensor(1.0 / n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x.float() - self.mean) / self.scale
        squared = (z * z).sum(1, keepdim=True) - 2.0 * z @ self.landmarks.T + (self.landmarks**2).sum(1)
        return torch.exp(-self.gamma * squared.clamp_min(0.0))


def rbf_head(n_features: int, n_landmarks: int, n_classes: int) -> torch.nn.Sequential:
    """An RBF head with empty buffers: `RbfFeatures`, then a linear layer on the kernel values."""
    return torch.nn.Sequential(RbfFeatures(n_features, n_landmarks), torch.nn.Linear(n_landmarks, n_classes))


def head_config(head: torch.nn.Module) -> dict[str, Any] | None:
    """What rebuilds `head` before its weights load (`head_from_config`): None for a plain linear head."""
    kernel = head[0] if isinstance(head, torch.nn.Sequential) else None
    if isinstance(kernel, RbfFeatures):
        n_landmarks, n_features = kernel.landmarks.shape
        return {"kind": "rbf", "features": int(n_features), "landmarks": int(n_landmarks)}
    return None


def head_from_config(config: dict[str, Any] | None, n_classes: int) -> torch.nn.Module | None:
    """The empty head `head_config` described, or None for the model's own linear classifier.

    Raises:
        ValueError: an unknown head kind.
    """
    if config is None:
        return None
    if config.get("kind") != "rbf":
        raise ValueError(f"unknown head kind {config.get('kind')!r}; this version reads 'rbf'")
    return rbf_head(int(config["features"]), int(config["landmarks"]), n_classes)


def replace_module(root: torch.nn.Module, old: torch.nn.Module, new: torch.nn.Module) -> None:
    """Puts `new` where `old` sits in `root` (e.g. a timm model's classifier, wherever its family keeps it).

    Raises:
        ValueError: `old` is not a submodule of `root`.
    """
    for name, module in root.named_modules():
        if module is old and name:
            parent, _, attribute = name.rpartition(".")
            setattr(root.get_submodule(parent) if parent else root, attribute, new)
            return
    raise ValueError(f"{type(old).__name__} is not a submodule of {type(root).__name__}")


@dataclass(frozen=True)
class NystromMap:
    """The Nyström map of the RBF kernel on training rows (Williams & Seeger, NIPS 2000): kernel values
    against the landmarks (`features`, float32 as the head computes them), times K^(-1/2) of the landmarks.

    A linear head fitted on `map(rows)` is folded through `normalization` (`fold`) into the linear
    layer after `features`, so the exported head keeps the landmarks but not the (m, m) matrix.
    """

    features: RbfFeatures
    normalization: torch.Tensor  # (m, m) float64

    def map(self, rows: torch.Tensor) -> torch.Tensor:
        """(n, m) float64 kernel features of (n, d) rows."""
        with torch.no_grad():
            values = self.features.to(rows.device)(rows).double()
        return values @ self.normalization.to(values.device).T

    def fold(self, fit: HeadFit) -> HeadFit:
        """The fit on mapped rows as weights on the kernel values (what the head's linear layer holds)."""
        weight = (fit.weight.double().cpu() @ self.normalization.cpu()).float()
        return HeadFit(weight=weight, bias=fit.bias, iterations=fit.iterations, seconds=fit.seconds)


def fit_nystrom(rows: torch.Tensor, seed: int, landmarks: int = RBF_LANDMARKS, gamma_scale: float = 1.0) -> NystromMap:
    """Standardises `rows` (n, d) and draws up to `landmarks` of them (seeded): `runners.pixels`' map,
    on features instead of pixels (γ = `gamma_scale` / d)."""
    from runners.pixels import fit_kernel_map

    kernel = fit_kernel_map(rows.float().cpu().numpy(), seed, landmarks, gamma_scale)
    features = RbfFeatures(rows.shape[1], len(kernel.landmarks))
    features.mean.copy_(torch.from_numpy(kernel.mean))
    features.scale.copy_(torch.from_numpy(kernel.scale))
    features.landmarks.copy_(torch.from_numpy(kernel.landmarks))
    features.gamma.fill_(kernel.gamma)
    return NystromMap(features, torch.from_numpy(kernel.normalization))


def load_into(head: torch.nn.Module, fit: HeadFit) -> None:
    """Copies a fit into an `nn.Linear` head (same shape), or the linear layer of an RBF head (a fit
    `NystromMap.fold` folded), keeping the head's dtype and device."""
    if isinstance(head, torch.nn.Sequential) and head_config(head) is not None:
        head = head[-1]
    if not isinstance(head, torch.nn.Linear) or head.weight.shape != fit.weight.shape:
        raise ValueError(f"cannot load a {tuple(fit.weight.shape)} linear fit into {head}")
    with torch.no_grad():
        head.weight.copy_(fit.weight.to(head.weight))
        if head.bias is not None:
            head.bias.copy_(fit.bias.to(head.bias))


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """Example indices of `k` folds, each class dealt round-robin after a seeded shuffle."""
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        for j, i in enumerate(members):
            folds[(offset + j) % k].append(int(i))
        offset += len(members)
    return [np.array(sorted(f), dtype=np.int64) for f in folds if f]


def cv_folds(labels: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """The folds every cross-validation of a search uses: `folds`, or fewer when the rarest class has
    fewer examples (at least 2), dealt by `stratified_folds`; one assignment for heads and TF-IDF alike."""
    k = max(2, min(folds, int(np.bincount(labels).min()) if len(labels) else 2))
    return stratified_folds(labels, k, seed)


def cross_validate_head(
    rows: torch.Tensor,
    row_example: torch.Tensor,
    labels: torch.Tensor,
    n_classes: int,
    c: float,
    folds: int = 5,
    seed: int = 0,
    class_weight: torch.Tensor | None = None,
    scored: torch.Tensor | None = None,
) -> HeadScore:
    """k-fold accuracy of the converged head over examples.

    Every row of a held-out example stays out of training; the example is scored on the mean of
    the probabilities of its rows marked in `scored` (default: all of its rows).

    Args:
        rows: (m, d) feature rows: clean features and/or cached augmented views of the examples.
        row_example: (m,) index of the example each row belongs to.
        labels: (n,) class id of every example.
        class_weight: Optional (n_classes,) weights applied to training rows.
        scored: Optional (m,) mask of the rows a held-out example is scored on (e.g. its clean features).
    """
    y = labels.long().cpu()
    owner = row_example.long().cpu()
    scoring = torch.ones(len(owner), dtype=torch.bool) if scored is None else scored.bool().cpu()
    accuracies, losses, counted = [], 0.0, 0
    oof = torch.zeros(len(y), n_classes, dtype=torch.float64)
    for held in cv_folds(y.numpy(), folds, seed):
        held_t = torch.from_numpy(held)
        out = torch.isin(owner, held_t)
        train_labels = y[owner[~out]]
        weights = None if class_weight is None else class_weight.cpu()[train_labels]
        fit = fit_linear_head(rows[~out.to(rows.device)], train_labels, n_classes, c, weights)
        judged = out & scoring
        features = rows[judged.to(rows.device)].float().cpu()
        probs = (features @ fit.weight.T.cpu() + fit.bias.cpu()).double().softmax(-1)
        position = {int(e): j for j, e in enumerate(held)}
        slot = torch.tensor([position[int(e)] for e in owner[judged]], dtype=torch.long)
        mean = torch.zeros(len(held), n_classes, dtype=torch.float64).index_add_(0, slot, probs)
        mean /= torch.bincount(slot, minlength=len(held)).clamp_min(1).unsqueeze(1).double()
        truth = y[held_t]
        oof[held_t] = mean
        accuracies.append(float((mean.argmax(-1) == truth).double().mean()))
        losses += float(-mean[torch.arange(len(truth)), truth].clamp_min(1e-15).log().sum())
        counted += len(truth)
    acc = np.array(accuracies)
    stderr = float(acc.std(ddof=1) / math.sqrt(len(acc))) if len(acc) > 1 else 0.0
    return HeadScore(
        accuracy=float(acc.mean()),
        stderr=stderr,
        log_loss=losses / max(counted, 1),
        folds=len(acc),
        probabilities=oof.numpy(),
    )
