"""The converged linear head: the scikit-learn solution, in torch, and its cross-validation."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from runners import StageSpec, TimmRunner
from runners.cache import ActivationCache
from runners.training.head import cross_validate_head, cv_folds, fit_linear_head, stratified_folds


def _blobs(n_per_class: int = 60, d: int = 20, k: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.0, (k, d))
    x = np.concatenate([rng.normal(centres[c], 2.0, (n_per_class, d)) for c in range(k)])
    # Features on very different scales, as pooled CNN features are: standardisation must not matter.
    x *= rng.uniform(0.01, 50, d)
    y = np.repeat(np.arange(k), n_per_class)
    return x, y


@pytest.mark.parametrize("c", [0.01, 1.0, 100.0])
def test_converged_head_is_the_scikit_learn_solution(c):
    x, y = _blobs()
    x_test, y_test = _blobs(seed=1)
    scaler = StandardScaler().fit(x)
    ref = LogisticRegression(C=c, max_iter=20000, tol=1e-10).fit(scaler.transform(x), y)
    fit = fit_linear_head(torch.tensor(x), torch.tensor(y), 4, c)
    ours = (torch.tensor(x_test).float() @ fit.weight.T + fit.bias).argmax(-1).numpy()
    theirs = ref.predict(scaler.transform(x_test))
    assert (ours == theirs).mean() >= 0.99  # same optimum: predictions agree (ties at the boundary aside)
    assert abs((ours == y_test).mean() - (theirs == y_test).mean()) <= 0.01
    # The same optimum, not just the same argmax: sklearn's objective at our weights equals its own minimum.
    z = scaler.transform(x)
    ours_w = fit.weight.double().numpy() * scaler.scale_
    ours_b = fit.bias.double().numpy() + fit.weight.double().numpy() @ scaler.mean_
    assert _objective(z, y, ours_w, ours_b, c) == pytest.approx(
        _objective(z, y, ref.coef_, ref.intercept_, c), rel=1e-5
    )


def _objective(z, y, w, b, c):
    """scikit-learn's LogisticRegression objective: Σ CE + ‖W‖² / (2C)."""
    logits = z @ w.T + b
    logits -= logits.max(1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    return -log_p[np.arange(len(y)), y].sum() + (w * w).sum() / (2 * c)


def test_stronger_regularisation_shrinks_the_weights():
    x, y = _blobs()
    norms = [float(fit_linear_head(torch.tensor(x), torch.tensor(y), 4, c).weight.norm()) for c in (1e-3, 1e-1, 10)]
    assert norms[0] < norms[1] < norms[2]


def test_folds_are_stratified_and_partition_the_examples():
    y = np.array([0] * 10 + [1] * 5)
    folds = stratified_folds(y, 5, seed=0)
    assert sorted(np.concatenate(folds).tolist()) == list(range(15))
    assert all(sorted(y[f].tolist()) == [0, 0, 1] for f in folds)


def test_cross_validation_keeps_every_view_of_an_example_in_its_fold(monkeypatch):
    import runners.training.head as head

    x, y = _blobs(n_per_class=20)
    clean = torch.tensor(x).float()
    rows = torch.cat([clean, clean + 0.1])  # two "views" per example
    example = torch.cat([torch.arange(len(y)), torch.arange(len(y))])
    trained_on = []
    real_fit = head.fit_linear_head

    def spy(features, labels, *args, **kwargs):
        trained_on.append(len(features))
        return real_fit(features, labels, *args, **kwargs)

    monkeypatch.setattr(head, "fit_linear_head", spy)
    scored = cross_validate_head(rows, example, torch.tensor(y), 4, 1.0, folds=5)
    assert scored.folds == 5 and 0.5 < scored.accuracy < 1.0 and scored.stderr > 0
    # Each fold trains on both views of the 64 examples outside it: never on a view of a held-out one.
    assert trained_on == [2 * 64] * 5


def test_converged_head_stage_then_fine_tuning_starts_from_the_fitted_head(image_spec, monkeypatch):
    import runners.training.loop as loop

    head_stage = StageSpec(trainable_blocks=0, head_c=1.0)
    head_only = TimmRunner(cache=ActivationCache()).run(image_spec(stages=[head_stage]))
    assert head_only.status == "complete" and len(head_only.curve) == 1
    assert head_only.best_val_accuracy >= 0.8  # the colour task is linearly separable on random-CNN features
    fitted = head_only.curve[0]

    at_fine_tune_start = []
    real_param_groups = loop.param_groups

    def spy(adapter, boundary, stage, weight_decay):
        at_fine_tune_start.append(adapter.head().weight.detach().clone())
        return real_param_groups(adapter, boundary, stage, weight_decay)

    monkeypatch.setattr(loop, "param_groups", spy)
    runner = TimmRunner(cache=ActivationCache())
    result = runner.run(image_spec(stages=[head_stage, StageSpec(trainable_blocks=1, epochs=1)]))
    assert result.status == "complete" and [m.stage for m in result.curve] == [0, 1]
    assert result.curve[0].val_accuracy == fitted.val_accuracy and result.curve[0].val_loss == fitted.val_loss
    # The fine-tuning stage's optimiser is built on the converged head, not on a fresh random one.
    (start_weights,) = at_fine_tune_start
    assert start_weights.abs().sum() > 0
    torch.testing.assert_close(start_weights, _head_of_single_fit(image_spec, head_stage), atol=1e-5, rtol=1e-4)
    assert len(result.stage_seconds) == 2
    assert result.val_probabilities is not None and len(result.val_probabilities) == result.n_val


def _head_of_single_fit(image_spec, head_stage):
    class Keeping(TimmRunner):
        def build(self, *args, **kwargs):
            self.bundle = super().build(*args, **kwargs)
            return self.bundle

    runner = Keeping(cache=ActivationCache())
    runner.run(image_spec(stages=[head_stage]))
    return runner.bundle.model.get_classifier().weight.detach().clone()


def test_cross_validated_head_score_and_refit_on_train_plus_val(image_spec):
    stage = StageSpec(trainable_blocks=0, head_c=1.0)
    scored = TimmRunner(cache=ActivationCache()).run(image_spec(stages=[stage], head_cv_folds=3))
    assert scored.cv_accuracy is not None and 0.5 <= scored.cv_accuracy <= 1.0 and scored.cv_stderr is not None
    refit = TimmRunner(cache=ActivationCache()).run(
        image_spec(stages=[stage], train_on_val=True, early_stopping_patience=None)
    )
    # Validation joined training; the test split is untouched (same size, same ids).
    assert refit.n_train == scored.n_train + scored.n_val and refit.n_test == scored.n_test


def test_a_near_dead_channel_gets_no_huge_weight_in_the_raw_feature_space():
    """A pooled channel that is almost always zero (spread 1e-4 against ~2 for the others) but leans
    to one class: plain standardisation (scikit-learn's) folds into a raw weight in the thousands,
    which a fine-tuned block that wakes the channel turns into exploding logits. Ours stays small."""
    x, y = _blobs(d=20)
    x = x / x.std(0)  # healthy channels on one scale, as BatchNorm'd features are
    rng = np.random.default_rng(3)
    dead = 1e-4 * (rng.random(len(y)) + (y == 0))  # tiny, class-correlated
    x = np.column_stack([x, dead])
    scaler = StandardScaler().fit(x)
    ref = LogisticRegression(C=1.0, max_iter=20000).fit(scaler.transform(x), y)
    ref_raw = np.abs(ref.coef_[:, -1] / scaler.scale_[-1]).max()
    fit = fit_linear_head(torch.tensor(x), torch.tensor(y), 4, 1.0)
    ours_raw = float(fit.weight[:, -1].abs().max())
    assert ref_raw > 1000
    assert ours_raw < 20
    # The healthy channels keep nearly the reference's weights (it leans on the dead channel, so
    # they shift a little there).
    healthy = fit.weight[:, :-1].double().numpy()
    assert np.corrcoef(healthy.ravel(), (ref.coef_[:, :-1] / scaler.scale_[:-1]).ravel())[0, 1] > 0.95


def test_out_of_fold_probabilities_come_from_heads_fitted_without_their_fold():
    x, y = _blobs(n_per_class=25)
    rows, labels = torch.tensor(x), torch.tensor(y)
    scored = cross_validate_head(rows, torch.arange(len(y)), labels, 4, 0.1, folds=5, seed=3)
    assert scored.probabilities is not None and scored.probabilities.shape == (len(y), 4)
    np.testing.assert_allclose(scored.probabilities.sum(1), 1.0, atol=1e-9)
    for held in cv_folds(y, 5, seed=3):
        kept = np.setdiff1d(np.arange(len(y)), held)
        fit = fit_linear_head(rows[kept], labels[kept], 4, 0.1)
        expected = (rows[held].float() @ fit.weight.T + fit.bias).double().softmax(-1).numpy()
        np.testing.assert_allclose(scored.probabilities[held], expected, atol=1e-5)
    # The score is the folds' mean accuracy of exactly these predictions (equal-sized folds here).
    assert scored.accuracy == pytest.approx(float((scored.probabilities.argmax(1) == y).mean()))


def test_cv_folds_shrink_to_the_rarest_class():
    y = np.array([0] * 10 + [1] * 3)
    folds = cv_folds(y, 5, seed=0)
    assert len(folds) == 3 and sorted(np.concatenate(folds).tolist()) == list(range(13))


def test_a_head_only_refit_reads_both_splits_from_the_cache_and_fits_what_a_new_pass_would(image_spec):
    """The search's trials filled the cache for train and validation; the refit on train + validation
    reuses both (no frozen pass) and reaches the head a pass over the merged split gives."""
    stage = StageSpec(trainable_blocks=0, head_c=1.0)
    cache = ActivationCache()

    class Keeping(TimmRunner):
        def build(self, *args, **kwargs):
            self.bundle = super().build(*args, **kwargs)
            return self.bundle

    searched = Keeping(cache=cache).run(image_spec(stages=[stage]))
    refit_runner = Keeping(cache=cache)
    refit = refit_runner.run(image_spec(stages=[stage], train_on_val=True, early_stopping_patience=None))
    assert refit.status == "complete" and refit.cache_hits == 2 and refit.fill_seconds == 0.0
    assert refit.n_train == searched.n_train + searched.n_val and refit.n_test == searched.n_test
    merged_runner = Keeping()  # no cache: the merged split gets its own frozen pass
    merged = merged_runner.run(image_spec(stages=[stage], train_on_val=True, early_stopping_patience=None))
    assert merged.n_train == refit.n_train
    head = refit_runner.bundle.model.get_classifier()
    reference = merged_runner.bundle.model.get_classifier()
    torch.testing.assert_close(head.weight, reference.weight, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(head.bias, reference.bias, atol=1e-3, rtol=1e-3)
