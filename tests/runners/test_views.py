"""Dihedral views: the eight views of an image, heads fitted and scored on them, exports that keep them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from runners import StageSpec
from runners.cache import ActivationCache
from runners.data.splits import stratified_split
from runners.ensemble import EnsemblePredictor
from runners.export import export_timm
from runners.predict import ImagePredictor, load_predictor
from runners.specs import DihedralViews
from runners.timm_runner import TimmRunner
from runners.views import VIEW_SETS, ViewAveraged, dihedral_view, view_geometry

HEAD_ONLY = [StageSpec(trainable_blocks=0, head_c=1.0)]


def _numpy_views(a: np.ndarray) -> list[np.ndarray]:
    """The square's symmetries as numpy writes them: the 4 rotations, then each mirrored left-right."""
    rotations = [np.rot90(a, k) for k in range(4)]
    return rotations + [np.fliplr(r) for r in rotations]


def _bytes(arrays: list[np.ndarray]) -> set[bytes]:
    return {np.ascontiguousarray(a).tobytes() for a in arrays}


def test_the_first_two_views_are_the_image_and_its_half_turn_four_the_rotations_eight_the_symmetries() -> None:
    a = np.arange(9, dtype=np.float32).reshape(3, 3)  # no symmetry: every view differs
    x = torch.from_numpy(a)[None, None]
    views = [dihedral_view(x, v)[0, 0].numpy() for v in range(8)]
    np.testing.assert_array_equal(views[0], a)
    np.testing.assert_array_equal(views[1], a[::-1, ::-1])  # the half turn: rows and columns reversed
    np.testing.assert_array_equal(views[4], np.fliplr(a))
    assert len(_bytes(views)) == 8
    assert _bytes(views[:4]) == _bytes([np.rot90(a, k) for k in range(4)])
    assert _bytes(views) == _bytes(_numpy_views(a))
    with pytest.raises(ValueError, match="view must be in"):
        dihedral_view(x, 8)
    # What a cache key names: view 1 is the half turn, view 6 the quarter turn mirrored.
    assert view_geometry(1) == (2, False) and view_geometry(6) == (1, True)
    # Every view count a spec accepts has a name for the report, and no other.
    assert set(VIEW_SETS) == set(get_args(DihedralViews))


def test_view_averaged_logits_are_the_log_of_the_views_mean_probabilities() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 4 * 4, 3))
    x = torch.randn(5, 2, 4, 4)

    def turned(v: int) -> torch.Tensor:
        return torch.from_numpy(np.stack([[_numpy_views(channel)[v] for channel in image] for image in x.numpy()]))

    with torch.no_grad():
        # numpy's views are rot90(k) then mirrored: the runners' first 2 are its rotations by 0 and 2.
        for views, of_numpy in ((2, [0, 2]), (4, range(4)), (8, range(8))):
            by_hand = np.mean([model(turned(v)).softmax(-1).numpy() for v in of_numpy], axis=0)
            averaged = ViewAveraged(model, views)(x).softmax(-1).numpy()
            np.testing.assert_allclose(averaged, by_hand, rtol=0, atol=1e-6)
        torch.testing.assert_close(ViewAveraged(model, 1)(x), model(x))


def test_dihedral_views_are_for_head_only_image_trials(image_spec, text_spec) -> None:
    with pytest.raises(ValidationError, match="modality='text' has none"):
        text_spec(stages=HEAD_ONLY, dihedral_views=4)
    with pytest.raises(ValidationError, match="stage 1 trains for epochs"):
        image_spec(stages=[*HEAD_ONLY, StageSpec(trainable_blocks=1)], dihedral_views=8)
    with pytest.raises(ValidationError, match="dihedral_views"):
        image_spec(stages=HEAD_ONLY, dihedral_views=3)
    assert image_spec(stages=[*HEAD_ONLY, StageSpec(trainable_blocks=1)]).dihedral_views == 1


def test_a_head_on_8_views_fits_every_view_and_its_export_ignores_how_the_image_is_turned(
    image_spec, tmp_path: Path, monkeypatch
) -> None:
    import runners.training.loop as loop

    fitted_rows: list[int] = []
    fit = loop.fit_linear_head
    monkeypatch.setattr(loop, "fit_linear_head", lambda x, *a, **k: fitted_rows.append(len(x)) or fit(x, *a, **k))
    cache = ActivationCache()
    runner = TimmRunner(cache=cache)
    spec = image_spec(stages=HEAD_ONLY, dihedral_views=8, output_dir=tmp_path / "trial")
    runner.frozen_pass(spec.model_copy(update={"dihedral_views": 1, "output_dir": None}))
    misses = cache.misses  # the clean pass: train and validation

    result = runner.run(spec)

    assert result.status == "complete" and result.model_dir is not None
    assert fitted_rows == [8 * result.n_train]
    # View 0 is the clean pass's entry; the other 7 views of both splits were computed once each.
    assert cache.misses - misses == 7 * 2
    assert result.fill_seconds > 0
    exported = load_predictor(result.model_dir)
    assert isinstance(exported, ImagePredictor) and exported.views == 8
    data = runner.load_data(spec.source)
    split = stratified_split(data, spec.split_fractions, spec.seed)
    val_inputs = [data.inputs[i] for i in split.val]
    # Validation was scored as the export predicts: the mean of the 8 views' probabilities.
    np.testing.assert_allclose(exported.predict_proba(val_inputs), result.val_probabilities, rtol=0, atol=1e-5)
    test_inputs = [data.inputs[i] for i in split.test]
    predicted = [label for label, _ in exported.predict(test_inputs)]
    assert np.mean([p == data.labels[i] for p, i in zip(predicted, split.test, strict=True)]) == result.test_accuracy
    # The 8 views of a turned or mirrored image are the same 8 views: the same probabilities.
    images = val_inputs[:4]
    for turned in ([np.rot90(a).copy() for a in images], [np.flipud(a).copy() for a in images]):
        np.testing.assert_allclose(exported.predict_proba(turned), exported.predict_proba(images), rtol=0, atol=1e-5)
    clean = TimmRunner(cache=cache).run(image_spec(stages=HEAD_ONLY))
    assert fitted_rows[-1] == clean.n_train  # without the setting, one row per image


def test_members_share_each_view_they_have_in_common_and_predict_as_they_would_alone(
    tmp_path: Path, colour_images
) -> None:
    import timm

    classes = ["class0", "class1", "class2"]
    torch.manual_seed(0)
    model = timm.create_model("resnet18", pretrained=False, num_classes=3).eval()
    data_cfg = {"input_size": 32, "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25), "crop_pct": 1.0}
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.fc.bias += 0.3  # another head on the same frozen backbone
    export_timm(model, "resnet18", classes, data_cfg, {}, tmp_path / "a", views=8)
    export_timm(other, "resnet18", classes, data_cfg, {}, tmp_path / "b", views=8)
    members = [load_predictor(tmp_path / "a"), load_predictor(tmp_path / "b")]
    export_timm(model, "resnet18", classes, data_cfg, {}, tmp_path / "clean", views=1)
    clean = load_predictor(tmp_path / "clean")  # the same model, scored on each image as it is
    images = colour_images(3, size=40, seed=9)[0]
    alone = [m.predict_proba(images) for m in members]

    ensemble = EnsemblePredictor([(members[0], 0.7), (members[1], 0.3)], classes)

    assert ensemble.groups == [([0, 1], 5)]
    np.testing.assert_allclose(ensemble.predict_proba(images), 0.7 * alone[0] + 0.3 * alone[1], rtol=0, atol=1e-6)
    clean_alone = clean.predict_proba(images)
    assert not np.allclose(alone[0], clean_alone, atol=1e-3)  # the views change the scores
    # A member scored on the image as it is shares view 0 with the members on views, and each
    # still predicts as it would alone (one view for it, eight for them).
    mixed = EnsemblePredictor([(members[0], 0.5), (clean, 0.2), (members[1], 0.3)], classes)
    assert mixed.groups == [([0, 1, 2], 5)]
    np.testing.assert_allclose(
        mixed.predict_proba(images), 0.5 * alone[0] + 0.2 * clean_alone + 0.3 * alone[1], rtol=0, atol=1e-6
    )


def test_a_head_on_the_4_rotations_caches_three_more_views(image_spec, tmp_path: Path) -> None:
    cache = ActivationCache()
    runner = TimmRunner(cache=cache)
    spec = image_spec(stages=HEAD_ONLY, dihedral_views=4, output_dir=tmp_path / "trial")
    runner.frozen_pass(spec.model_copy(update={"dihedral_views": 1, "output_dir": None}))
    misses = cache.misses
    result = runner.run(spec)
    assert cache.misses - misses == 3 * 2 and load_predictor(result.model_dir).views == 4
    images = list(image_spec().data.inputs[:4])
    exported = load_predictor(result.model_dir)
    turned = [np.rot90(a).copy() for a in images]  # a quarter turn: the same 4 rotations
    np.testing.assert_allclose(exported.predict_proba(turned), exported.predict_proba(images), rtol=0, atol=1e-5)
