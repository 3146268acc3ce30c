"""The RBF head (`StageSpec.head_kernel="rbf"`): a converged logistic regression on the Nyström kernel
values of the frozen features, exported inside the model and reloaded, in PyTorch and ONNX, exactly."""

import json

import numpy as np
import pytest
import torch

from runners import StageSpec, TimmRunner, TrialSpec
from runners.cache import ActivationCache
from runners.specs import InMemoryData
from runners.training.head import fit_linear_head, fit_nystrom, head_config, load_into, rbf_head

from ..conftest import assert_reloads_and_runs_in_onnx

RBF = StageSpec(trainable_blocks=0, head_c=1.0, head_kernel="rbf")


def _rings(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two concentric rings in the first two of 6 features (the rest noise): no line separates them."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = np.where(y == 1, 3.0, 1.0) + rng.normal(0, 0.15, n)
    x = np.column_stack([radius * np.cos(angle), radius * np.sin(angle), rng.normal(0, 1, (n, 4))])
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y)


def test_an_rbf_head_separates_rings_a_linear_head_cannot_and_its_folded_module_scores_as_the_fit():
    x, y = _rings(400, seed=0)
    x_test, y_test = _rings(400, seed=1)
    linear = fit_linear_head(x, y, 2, c=1.0)
    linear_acc = float(((x_test @ linear.weight.T + linear.bias).argmax(-1) == y_test).float().mean())

    kernel = fit_nystrom(x, seed=0, landmarks=150)
    fit = fit_linear_head(kernel.map(x), y, 2, c=10.0)
    head = rbf_head(6, 150, 2)
    head[0].load_state_dict(kernel.features.state_dict())
    load_into(head, kernel.fold(fit))
    with torch.no_grad():
        logits = head(x_test)
    mapped_logits = (kernel.map(x_test).float() @ fit.weight.T + fit.bias).float()

    assert linear_acc < 0.65  # the rings defeat a linear head
    assert float((logits.argmax(-1) == y_test).float().mean()) > 0.95
    torch.testing.assert_close(logits, mapped_logits, atol=1e-3, rtol=1e-3)  # folding loses nothing
    assert head_config(head) == {"kind": "rbf", "features": 6, "landmarks": 150}


def test_an_rbf_head_trial_exports_a_model_that_reloads_and_runs_in_onnx_to_the_same_probabilities(
    tmp_path, image_spec, colour_images
):
    runner = TimmRunner(cache=ActivationCache())
    result = runner.run(image_spec(stages=[RBF], output_dir=tmp_path, head_cv_folds=3, dihedral_views=4))

    assert result.status == "complete" and result.cv_accuracy is not None
    assert result.best_val_accuracy is not None and result.best_val_accuracy > 0.5  # three classes: chance is a third
    config = json.loads((result.model_dir / "config.json").read_text())
    # resnet18's 512 pooled features; landmarks: every training row, 4 views of each training image
    assert config["head"] == {"kind": "rbf", "features": 512, "landmarks": 4 * result.n_train}
    assert_reloads_and_runs_in_onnx(result.model_dir, runner.last_predictor, colour_images(3, seed=9)[0])


def test_a_head_only_refit_with_an_rbf_head_fits_on_train_plus_validation(image_spec):
    cache = ActivationCache()
    searched = TimmRunner(cache=cache).run(image_spec(stages=[RBF]))
    refit = TimmRunner(cache=cache).run(image_spec(stages=[RBF], train_on_val=True, early_stopping_patience=None))
    assert refit.status == "complete" and refit.cache_hits == 2
    assert refit.n_train == searched.n_train + searched.n_val and refit.n_test == searched.n_test


def test_a_kernel_head_must_be_a_converged_fit_on_images_in_the_last_stage(image_spec):
    with pytest.raises(ValueError, match="head_kernel='rbf' needs a converged head fit"):
        StageSpec(trainable_blocks=1, epochs=2, head_kernel="rbf")
    with pytest.raises(ValueError, match="a kernel head must be the last stage"):
        image_spec(stages=[RBF, StageSpec(trainable_blocks=1, epochs=2)])
    with pytest.raises(ValueError, match="is for image trials"):
        TrialSpec(modality="text", backbone="x", data=InMemoryData(inputs=["a"], labels=["b"]), stages=[RBF])
