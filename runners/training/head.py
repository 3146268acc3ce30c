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

import numpy as np
import torch

# L-BFGS stops when the largest gradient entry of the (per-example averaged) objective is below this.
_TOLERANCE_GRAD = 1e-6
# Smallest spread a channel is standardised by, as a share of the median channel's.
_STD_FLOOR = 0.1
# Fits up to this many feature entries (n × d) run on one CPU thread.
_SMALL_FIT = 20_000_000


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
    z = (x - mean) / std
    n, d = z.shape
    w = torch.ones(n, dtype=x.dtype, device=x.device) if sample_weight is None else sample_weight.to(x).double()
    # Divided by n so the scale (and L-BFGS's tolerances) do not depend on the number of examples.
    scale, penalty = 1.0 / n, 1.0 / (2.0 * c * n)
    weight = torch.zeros(n_classes, d, dtype=x.dtype, device=x.device, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=x.dtype, device=x.device, requires_grad=True)
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

    with torch.enable_grad(), _single_thread(x.device, n * d):
        optimizer.step(closure)
    iterations = int(optimizer.state[optimizer._params[0]].get("n_iter", 0))
    folded = (weight.detach() / std).float()
    return HeadFit(
        weight=folded,
        bias=(bias.detach() - (weight.detach() / std) @ mean).float(),
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


def load_into(head: torch.nn.Module, fit: HeadFit) -> None:
    """Copies a fit into an `nn.Linear` head (same shape), keeping the head's dtype and device."""
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
