"""LogME and linear probes: the numbers the backbone ranking and the similarity evidence rest on."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.profiling.probes import PROBE_C, fit_precisions, linear_probe, log_evidence, logme


def _blobs(separation: float, n: int = 60, d: int = 16, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    labels = [str(i % 3) for i in range(n)]
    centres = rng.normal(0, 1, (3, d)) * separation
    x = np.stack([centres[int(label)] for label in labels]) + rng.normal(0, 1, (n, d))
    return x, labels


@pytest.mark.parametrize(("alpha", "beta"), [(0.5, 2.0), (3.0, 0.7)])
def test_closed_form_evidence_equals_the_gaussian_marginal_likelihood(alpha: float, beta: float) -> None:
    """y ~ N(0, I/beta + F Fᵀ/alpha): the SVD shortcut must give the same log density."""
    rng = np.random.default_rng(1)
    f = rng.normal(size=(12, 5))
    y = rng.normal(size=12)
    s, v = np.linalg.eigh(f.T @ f)
    cov = np.eye(12) / beta + f @ f.T / alpha
    _, logdet = np.linalg.slogdet(cov)
    direct = -0.5 * (y @ np.linalg.solve(cov, y) + logdet + 12 * np.log(2 * np.pi))
    assert log_evidence(f, y, s, v, alpha, beta) == pytest.approx(direct, rel=1e-9)


def test_fitted_precisions_maximise_the_evidence_locally() -> None:
    x, labels = _blobs(2.0)
    y = (np.array(labels) == "0").astype(float)
    s, v = np.linalg.eigh(x.T @ x)
    alpha, beta = fit_precisions(x, y, s, v, iterations=200)
    best = log_evidence(x, y, s, v, alpha, beta)
    for a, b in [(alpha * 2, beta), (alpha / 2, beta), (alpha, beta * 2), (alpha, beta / 2)]:
        assert log_evidence(x, y, s, v, a, b) < best


def test_logme_ranks_features_by_how_well_they_separate_the_classes() -> None:
    scores = [logme(*_blobs(sep)) for sep in (0.0, 1.0, 3.0)]
    assert scores[0] < scores[1] < scores[2]


def test_linear_probe_reads_separability() -> None:
    separable, labels = _blobs(4.0)
    noise, _ = _blobs(0.0)
    assert linear_probe(separable, labels) >= 0.95
    assert linear_probe(noise, labels) <= 0.6


@pytest.mark.parametrize(
    ("d", "separation"), [(8, 0.35), (400, 0.12)], ids=["fewer features than rows", "more features than rows"]
)
def test_linear_probe_scores_as_scikit_learns_pipeline(d: int, separation: float) -> None:
    """The probe fits wide folds in their training rows' span; every fold must score as the plain
    standardise + logistic regression pipeline does on all `d` features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, labels = _blobs(separation, n=90, d=d, seed=3)
    plain = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=PROBE_C))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    expected = float(np.mean(cross_val_score(plain, x, labels, cv=folds)))
    assert 0.45 < expected < 0.95  # neither trivial nor hopeless, so a wrong projection would show
    assert linear_probe(x, labels) == pytest.approx(expected, abs=1e-12)


def test_linear_probe_needs_two_examples_per_class() -> None:
    x = np.eye(5)
    assert linear_probe(x, ["a", "a", "b", "b", "c"]) is None
