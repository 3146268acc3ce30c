"""Kernel logistic regression on raw pixels: accuracy on real digits, the Nyström map, exact export round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics.pairwise import rbf_kernel

from runners.data import offline
from runners.errors import DataError, RunnerError
from runners.pixels import (
    PIXEL_SIDE,
    PixelKernelModel,
    cross_validate_pixels,
    fit_kernel_map,
    fit_pixel_kernel,
    fit_pixels_at,
    load_pixels,
    raw_pixels,
)
from runners.predict import load_predictor, log_loss


@pytest.fixture(scope="module")
def digits() -> dict[str, list]:
    """scikit-learn's 8×8 digits as grayscale PIL images: 600 train, 200 validation, 300 test (seeded)."""
    data = offline.digits()
    order = np.random.default_rng(0).permutation(len(data.labels))
    images = [data.inputs[i] for i in order]
    labels = [data.labels[i] for i in order]
    parts = {"train": (0, 600), "val": (600, 800), "test": (800, 1100)}
    return {f"{k}_{what}": (images if what == "x" else labels)[a:b] for k, (a, b) in parts.items() for what in "xy"}


@pytest.fixture(scope="module")
def fitted(digits) -> PixelKernelModel:
    classes = [str(d) for d in range(10)]
    return fit_pixel_kernel(
        raw_pixels(digits["train_x"]), digits["train_y"], raw_pixels(digits["val_x"]), digits["val_y"], classes
    )


def test_raw_pixels_shrink_any_image_to_32_by_32_rgb_in_unit_range(digits) -> None:
    pixels = raw_pixels([digits["train_x"][0], np.full((5, 7, 3), 255, dtype=np.uint8)])
    assert pixels.shape == (2, PIXEL_SIDE * PIXEL_SIDE * 3) and pixels.dtype == np.float32
    assert pixels.min() >= 0.0 and pixels[0].max() <= 1.0
    np.testing.assert_array_equal(pixels[1], 1.0)  # a white array stays white
    grey = pixels[0].reshape(PIXEL_SIDE, PIXEL_SIDE, 3)
    np.testing.assert_array_equal(grey[..., 0], grey[..., 2])  # a grayscale image has equal channels


def test_digits_test_accuracy_beats_frozen_backbone_features(digits, fitted: PixelKernelModel) -> None:
    # Measured (seed 0): C = 100, validation 0.980 (196 / 200), test 0.967 (290 / 300). Frozen
    # EfficientNet-Lite0 features with a converged head score 0.944 on bench_peers' digits split.
    assert fitted.c == 100.0
    probs = fitted.predict_proba(digits["test_x"])
    y = np.array([fitted.class_names.index(label) for label in digits["test_y"]])
    assert np.mean(probs.argmax(1) == y) >= 0.95
    np.testing.assert_allclose(probs.sum(1), 1.0)
    val = fitted.predict_proba(digits["val_x"])
    y_val = np.array([fitted.class_names.index(label) for label in digits["val_y"]])
    assert fitted.val_accuracy == np.mean(val.argmax(1) == y_val)
    assert fitted.val_log_loss == log_loss(val, y_val)


@pytest.mark.parametrize("gamma_scale", [1.0, 4.0])
def test_the_nystrom_map_reproduces_the_rbf_kernel_on_its_landmarks(digits, gamma_scale) -> None:
    """φ(x)·φ(l) = k(x, l) for every landmark l: the defining property of the Nyström approximation,
    for the default γ = 1 / d and a narrower kernel."""
    pixels = raw_pixels(digits["train_x"][:300])
    kernel = fit_kernel_map(pixels, seed=3, landmarks=120, gamma_scale=gamma_scale)
    assert kernel.landmarks.shape == (120, PIXEL_SIDE * PIXEL_SIDE * 3)
    assert kernel.gamma == gamma_scale / pixels.shape[1]
    z = (pixels - kernel.mean) / kernel.scale
    on_landmarks = (kernel.landmarks * kernel.scale + kernel.mean).astype(np.float32)
    approx = kernel(pixels) @ kernel(on_landmarks).T
    exact = rbf_kernel(z.astype(np.float64), kernel.landmarks.astype(np.float64), gamma=kernel.gamma)
    np.testing.assert_allclose(approx, exact, atol=1e-5)
    # The landmarks are training images, standardised, chosen by the seed.
    assert any(np.allclose(kernel.landmarks[0], row, atol=1e-5) for row in z)
    assert not np.array_equal(fit_kernel_map(pixels, seed=4, landmarks=120).landmarks, kernel.landmarks)


def test_export_round_trip_predicts_identically_and_loads_through_load_predictor(tmp_path, digits, fitted) -> None:
    fitted.export(tmp_path / "pixels")
    config = json.loads((tmp_path / "pixels" / "config.json").read_text())
    assert config["runner"] == "pixel-kernel" and config["side"] == PIXEL_SIDE and config["c"] == 100.0
    loaded = load_predictor(tmp_path / "pixels")
    assert isinstance(loaded, PixelKernelModel) and loaded.modality == "image"
    assert loaded.class_names == fitted.class_names
    np.testing.assert_array_equal(loaded.predict_proba(digits["test_x"]), fitted.predict_proba(digits["test_x"]))
    assert loaded.predict(digits["test_x"][:3]) == fitted.predict(digits["test_x"][:3])


def test_a_model_from_another_side_or_folder_is_refused_by_name(tmp_path, fitted) -> None:
    fitted.export(tmp_path / "pixels")
    config_path = tmp_path / "pixels" / "config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "side": 64}))
    with pytest.raises(RunnerError, match=r"config\.json: side 64"):
        load_pixels(tmp_path / "pixels")
    with pytest.raises(RunnerError, match="not a pixel-kernel model"):
        load_pixels(tmp_path)


def test_a_fit_at_a_chosen_c_fits_standardisation_and_landmarks_on_the_rows_it_is_given(digits, fitted) -> None:
    # The ensemble's refit of its pixel member: train + validation at the C validation chose.
    pixels = raw_pixels(digits["train_x"] + digits["val_x"])
    refit = fit_pixels_at(pixels, digits["train_y"] + digits["val_y"], fitted.class_names, fitted.c, fitted.seed)
    np.testing.assert_allclose(refit.kernel.mean, pixels.mean(0), atol=1e-6)
    assert refit.c == fitted.c
    assert len(refit.kernel.landmarks) == 800  # every row of train + validation, under the 1,000 landmarks


def test_cross_validation_scores_each_row_out_of_fold(digits) -> None:
    pixels = raw_pixels(digits["train_x"][:200])
    labels = digits["train_y"][:200]
    classes = [str(d) for d in range(10)]
    folds = [np.arange(i, 200, 4) for i in range(4)]
    scored = cross_validate_pixels(pixels, labels, classes, folds, cs=(1, 10))
    y = np.array([classes.index(label) for label in labels])
    assert scored.c in (1.0, 10.0) and scored.probabilities.shape == (200, 10)
    assert scored.accuracy == np.mean(scored.probabilities.argmax(1) == y)
    # Out of fold: a row's probabilities are those of a model fitted without its fold (up to the
    # warm-started path's solver tolerance: 0.006 here).
    held = folds[0]
    kept = np.setdiff1d(np.arange(200), held)
    alone = fit_pixel_kernel(
        pixels[kept], [labels[i] for i in kept], pixels[held], [labels[i] for i in held], classes, cs=(scored.c,)
    )
    np.testing.assert_allclose(scored.probabilities[held], alone.proba_of_pixels(pixels[held]), atol=0.01)


def test_bad_labels_and_missing_validation_are_named(digits) -> None:
    pixels = raw_pixels(digits["train_x"][:50])
    classes = [str(d) for d in range(10)]
    with pytest.raises(DataError, match=r"validation: labels \['x'\]"):
        fit_pixel_kernel(pixels, digits["train_y"][:50], pixels[:2], ["x", "1"], classes)
    with pytest.raises(DataError, match="no validation images"):
        fit_pixel_kernel(pixels, digits["train_y"][:50], pixels[:0], [], classes)
    only_ones = [i for i, label in enumerate(digits["train_y"][:50]) if label != "7"]
    with pytest.raises(DataError, match=r"classes \['7'\] have no training examples"):
        fit_pixel_kernel(
            pixels[only_ones], [digits["train_y"][i] for i in only_ones], pixels[:5], digits["train_y"][:5], classes
        )


def test_predictions_read_in_chunks_equal_one_pass_over_the_pixels(monkeypatch, digits, fitted) -> None:
    import runners.pixels

    whole = fitted.proba_of_pixels(raw_pixels(digits["test_x"][:20]))
    monkeypatch.setattr(runners.pixels, "PREDICT_CHUNK", 7)  # 20 images: chunks of 7, 7 and 6
    # Equal up to the matrix products' rounding, which depends on the rows multiplied together.
    np.testing.assert_allclose(fitted.predict_proba(digits["test_x"][:20]), whole, rtol=1e-12, atol=1e-15)
    assert fitted.predict_proba([]).shape == (0, 10)
