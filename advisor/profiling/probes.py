"""Cheap measurements on features: cross-validated linear probes and the LogME transferability score.

LogME (You et al., "LogME: Practical Assessment of Pre-trained Models for Transfer Learning",
ICML 2021) is the log marginal evidence, per example, of a Bayesian linear regression from the
features to each one-hot label column, with its two precisions fitted by fixed-point iteration;
averaged over classes. It needs no training and ranks backbones by how well their frozen features
would serve a linear head.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def folds_for(labels: list[str], most: int = 5) -> int:
    """Stratified folds possible for these labels (0 when a class has fewer than two examples)."""
    smallest = min(labels.count(c) for c in set(labels))
    return min(most, smallest) if smallest >= 2 else 0


# The probes' inverse regularisation strength (scikit-learn's C, on standardised features).
PROBE_C = 0.1


def linear_probe(features: Any, labels: list[str], seed: int = 0) -> float | None:
    """Mean cross-validated accuracy of a logistic regression (C = `PROBE_C`) on standardised `features`.

    Accepts a dense array or a sparse matrix (bag of words). None when a class has < 2 examples.
    Dense folds with more features than training rows are fitted in the span of their training rows
    (`_onto_row_space`): the same predictions, on 257 digits' 3,072 raw pixels in 1.1 s instead of 6.1.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    k = folds_for(labels)
    if k == 0:
        return None
    sparse = hasattr(features, "tocsr")
    x = features.tocsr() if sparse else np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    scores = []
    for train, test in StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        scaler = StandardScaler(with_mean=not sparse).fit(x[train])
        x_train, x_test = scaler.transform(x[train]), scaler.transform(x[test])
        if not sparse and x_train.shape[1] > x_train.shape[0]:
            x_train, x_test = _onto_row_space(x_train, x_test)
        model = LogisticRegression(max_iter=2000, C=PROBE_C).fit(x_train, y[train])
        scores.append(model.score(x_test, y[test]))
    return float(np.mean(scores))


def _onto_row_space(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sets in coordinates of an orthonormal basis of the training rows' span.

    An L2-regularised linear model's weights lie in that span (every gradient step is a sum of
    training rows), and the basis is orthonormal, so the penalty, the fit and every score
    x · w are unchanged while the fit works in at most n_train dimensions instead of d.
    """
    _, s, vt = np.linalg.svd(x_train, full_matrices=False)
    basis = vt[s > s[0] * 1e-10].T if len(s) and s[0] > 0 else vt.T
    return x_train @ basis, x_test @ basis


def bag_of_words(texts: list[str]) -> Any:
    """TF-IDF (sublinear, unigrams and bigrams) sparse matrix of the texts."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1).fit_transform(texts)


def logme(features: np.ndarray, labels: list[str], iterations: int = 11) -> float:
    """LogME evidence per example, averaged over classes (higher: features fit the labels better)."""
    f = np.asarray(features, dtype=np.float64)
    # Eigen-decomposition of FᵀF once; every class reuses it.
    s, v = np.linalg.eigh(f.T @ f)
    s = np.clip(s, 0.0, None)
    y_all = np.array(labels)
    evidences = []
    for c in sorted(set(labels)):
        y = (y_all == c).astype(np.float64)
        alpha, beta = fit_precisions(f, y, s, v, iterations)
        evidences.append(log_evidence(f, y, s, v, alpha, beta) / len(y))
    return float(np.mean(evidences))


def _posterior_mean(
    f: np.ndarray, y: np.ndarray, s: np.ndarray, v: np.ndarray, alpha: float, beta: float
) -> np.ndarray:
    return v @ (beta * (v.T @ (f.T @ y)) / (alpha + beta * s))


def fit_precisions(
    f: np.ndarray, y: np.ndarray, s: np.ndarray, v: np.ndarray, iterations: int = 11
) -> tuple[float, float]:
    """MacKay's fixed-point updates of the prior precision alpha and noise precision beta."""
    n = len(y)
    alpha, beta = 1.0, 1.0
    for _ in range(iterations):
        m = _posterior_mean(f, y, s, v, alpha, beta)
        gamma = float((beta * s / (alpha + beta * s)).sum())
        new_alpha = gamma / (float(m @ m) + 1e-10)
        new_beta = (n - gamma) / (float(((y - f @ m) ** 2).sum()) + 1e-10)
        converged = abs(new_alpha / new_beta - alpha / beta) / (alpha / beta) < 0.01
        alpha, beta = new_alpha, new_beta
        if converged:
            break
    return alpha, beta


def log_evidence(f: np.ndarray, y: np.ndarray, s: np.ndarray, v: np.ndarray, alpha: float, beta: float) -> float:
    """log p(y | F, alpha, beta) of the linear model y = F m + noise, m ~ N(0, 1/alpha), noise ~ N(0, 1/beta)."""
    n, d = f.shape
    m = _posterior_mean(f, y, s, v, alpha, beta)
    return float(
        d / 2.0 * np.log(alpha)
        + n / 2.0 * np.log(beta)
        - 0.5 * np.sum(np.log(alpha + beta * s))
        - beta / 2.0 * float(((y - f @ m) ** 2).sum())
        - alpha / 2.0 * float(m @ m)
        - n / 2.0 * np.log(2 * np.pi)
    )


# Inverse strengths tried when a backbone's converged head is cross-validated on a sample.
HEAD_C_GRID = (1e-3, 1e-2, 1e-1)  # the converged heads of the bench chose 0.001–0.01 (advisor.auto.space)


def converged_head_accuracy(features: np.ndarray, labels: list[str], seed: int = 0) -> float | None:
    """Best k-fold accuracy over `HEAD_C_GRID` of the converged linear head (`runners.training.head`).

    What a head-only trial on these features would reach, which is what ranks backbones. None when
    a class has fewer than two examples.
    """
    import torch

    from runners.training.head import cross_validate_head

    k = folds_for(labels)
    if k == 0:
        return None
    names = sorted(set(labels))
    y = torch.tensor([names.index(label) for label in labels])
    x = torch.as_tensor(np.asarray(features, dtype=np.float32))
    scores = [
        cross_validate_head(x, torch.arange(len(y)), y, len(names), c, folds=k, seed=seed).accuracy for c in HEAD_C_GRID
    ]
    return max(scores)
