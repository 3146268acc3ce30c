"""The finishing phase on a real (tiny) text search: ensemble with a TF-IDF member, refit, export, predict."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import optuna
import pytest

from advisor.auto.config import TuneConfig
from advisor.auto.finish import refit_spec
from advisor.auto.search import run_search
from advisor.auto.trial_specs import trial_spec
from runners import AugmentConfig, load_predictor
from runners.data.splits import stratified_split

from ...curves import epoch_point
from ...tiny_models import WORDS, save_tiny_bert

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def tiny_text(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A CSV of keyword texts (noisy: a fifth of each text's words come from another class) and a tiny BERT."""
    root = tmp_path_factory.mktemp("tiny_text")
    rnd = random.Random(0)
    rows = []
    for label, words in WORDS.items():
        others = " ".join(w for k, ws in WORDS.items() if k != label for w in ws.split()).split()
        for _ in range(30):
            text = rnd.choices(words.split(), k=6) + rnd.choices(others, k=2)
            rnd.shuffle(text)
            rows.append((" ".join(text), label))
    with (root / "data.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    save_tiny_bert(root / "bert")
    return root / "data.csv", root / "bert"


def test_text_search_exports_what_predict_reproduces(tiny_text, tmp_path) -> None:
    data, bert = tiny_text
    config = TuneConfig(
        data=data,
        out=tmp_path / "out",
        backbone="tiny-bert",
        weights=str(bert),
        similarity="similar",
        trials=6,
        budget_minutes=5,
        max_epochs_per_stage=2,
        batch_size=16,
        max_length=16,
    )
    report = run_search(config)
    assert report.best is not None and report.model_dir is not None
    # 90 examples → 14 for validation: head-only trials were selected by 5-fold CV, with a standard error.
    head_only = [t for t in report.trials if t.state == "COMPLETE" and t.params["trainable_blocks"] == 0]
    assert head_only
    assert report.ensemble and all(m.weight > 0 for m in report.ensemble)
    assert sum(m.weight for m in report.ensemble) == pytest.approx(1.0)
    names = {m.name for m in report.ensemble}
    model_dir = Path(report.model_dir)
    if len(report.ensemble) > 1:  # an ensemble folder: one sub-folder per member
        manifest = json.loads((model_dir / "ensemble.json").read_text())
        assert {m["name"] for m in manifest["members"]} == names
    assert all(m.refit for m in report.ensemble)  # time was left: every member retrained on train + val
    # The exported model scores the test split exactly as the report says.
    import runners

    loaded = runners.get_runner("text").load_data(runners.DataSource(data=data))  # the same CSV, the same split
    split = stratified_split(loaded, config.split_fractions, config.seed)
    test_x = [loaded.inputs[i] for i in split.test]
    test_y = [loaded.labels[i] for i in split.test]
    predicted = load_predictor(model_dir).predict(test_x)
    accuracy = sum(label == truth for (label, _), truth in zip(predicted, test_y, strict=True)) / len(test_y)
    assert accuracy == pytest.approx(report.test_accuracy, abs=1e-12)
    # The report's confusion matrix is these predictions against the truth, cell by cell.
    confusion = report.test_confusion
    assert confusion is not None and confusion.total == len(test_y)
    for i, true in enumerate(confusion.classes):
        for j, guess in enumerate(confusion.classes):
            expected = sum(t == true and p == guess for (p, _), t in zip(predicted, test_y, strict=True))
            assert confusion.counts[i][j] == expected
    # Each member's own test accuracy, as its folder predicts alone (an ensemble's test pass gives them).
    markdown = (tmp_path / "out" / "report.md").read_text()
    if len(report.ensemble) > 1:
        for member in report.ensemble:
            alone = load_predictor(model_dir / member.name).predict(test_x)
            own = sum(label == truth for (label, _), truth in zip(alone, test_y, strict=True)) / len(test_y)
            assert member.test_accuracy == pytest.approx(own, abs=1e-12)
            assert (
                f"{member.name} (weight {member.weight:.2f}, refit on train + validation, test {own:.4f})" in markdown
            )
    else:
        assert report.ensemble[0].test_accuracy is None  # a single model's is the export's own
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<title>advisor auto: data</title>" in page and "data:image/png;base64," in page
    assert report.prediction_seconds_per_example is not None
    # The TF-IDF member was fitted before the trials, in a phase of its own.
    assert list(report.phase_seconds)[2:6] == ["setup", "tfidf", "trials", "finish"]
    assert "Exported model:" in markdown
    assert markdown.startswith("# advisor auto: data\n")  # no study name given: titled after data.csv


def test_refit_trains_on_train_plus_validation_up_to_the_best_epoch(tiny_text) -> None:
    class Trial:
        number = 3
        user_attrs = {
            "plan": {
                "trainable_blocks": 2,
                "head_c": 0.1,
                "lr_head": 1e-3,
                "lr_backbone": 1e-4,
                "layer_decay": 0.9,
                "tune_epochs": 6,
                "weight_decay": 1e-3,
            },
            "curve": [epoch_point(0, 0, 0.9, 0.70).model_dump()]
            + [
                epoch_point(1, e, v, a).model_dump()
                for e, (v, a) in enumerate([(0.8, 0.72), (0.6, 0.80), (0.7, 0.85), (0.65, 0.85)])
            ],
        }

    class Objective:
        config = TuneConfig(data=tiny_text[0], out=Path("/tmp/unused"))

        def spec_for(self, trial, plan, output_dir):  # noqa: ANN001, ANN202 - a sampled (not rule-plan) trial
            return trial_spec(plan, self.config, "tiny-bert", output_dir, AugmentConfig())

    spec = refit_spec(Trial(), Objective(), Path("/tmp/unused/refit"))  # type: ignore[arg-type]
    assert spec.train_on_val and spec.early_stopping_patience is None and not spec.evaluate_test
    assert [s.converged_head for s in spec.stages] == [True, False]
    # The search keeps by validation accuracy, ties to the lower loss: the fourth fine-tuning epoch
    # (0.85 at loss 0.65), not the third (0.85 at 0.7) nor the lowest loss (the second).
    assert spec.monitor == "val_accuracy" and spec.stages[1].epochs == 4


class _Trial:
    def __init__(self, number: int, attrs: dict) -> None:
        self.number, self.user_attrs = number, attrs


def _keyword_split(per_class: int, n_val: int, seed: int = 0):
    """Keyword texts (TF-IDF separates them) as the runners' data and split: class-major, val last."""
    from types import SimpleNamespace

    rnd = random.Random(seed)
    inputs, labels = [], []
    for label, words in WORDS.items():
        for _ in range(per_class):
            inputs.append(" ".join(rnd.choices(words.split(), k=6)))
            labels.append(label)
    classes = sorted(WORDS)
    val = [i for c in range(len(classes)) for i in range(c * per_class, c * per_class + n_val)]
    train = [i for i in range(len(inputs)) if i not in set(val)]
    ordered = sorted(train, key=lambda i: classes.index(labels[i])) + sorted(
        val, key=lambda i: classes.index(labels[i])
    )
    y_all = np.array([classes.index(labels[i]) for i in ordered])
    data = SimpleNamespace(inputs=inputs, labels=labels)
    split = SimpleNamespace(train=ordered[: len(train)], val=ordered[len(train) :], class_names=classes)
    return data, split, y_all


def test_out_of_fold_selection_weighs_tfidf_on_train_plus_validation_and_fine_tuning_on_validation() -> None:
    from types import SimpleNamespace

    from advisor.auto.classical import fit_classical_member
    from advisor.auto.finish import select_out_of_fold

    data, split, y_all = _keyword_split(per_class=20, n_val=3)
    n_val = len(split.val)
    y_val = y_all[-n_val:]
    rng = np.random.default_rng(0)
    # A weak head (right 40% of the time, out of fold) and a fine-tuning trial right on every validation text.
    weak = np.full((len(y_all), 3), 0.2)
    right = rng.random(len(y_all)) < 0.4
    weak[np.arange(len(y_all)), np.where(right, y_all, (y_all + 1) % 3)] = 0.6
    head = _Trial(1, {"cv_probabilities": weak.tolist(), "cv_labels": y_all.tolist(), "val_probabilities": []})
    tuned_probs = np.eye(3)[y_val] * 0.9 + 0.1 / 3
    tuned = _Trial(2, {"val_probabilities": tuned_probs.tolist()})
    config = SimpleNamespace(data_modality="text", seed=0, ensemble=True, priority="balanced")
    tfidf = fit_classical_member(config, data, split)  # type: ignore[arg-type]
    assert tfidf is not None and np.array_equal(tfidf.oof_labels, y_all)  # the head's rows, in its order
    candidates = {"trial_0002": tuned, "trial_0001": head}
    val_probs = {"trial_0002": tuned_probs, "trial_0001": weak[-n_val:]}
    chosen = select_out_of_fold(candidates, val_probs, y_val, tfidf)  # type: ignore[arg-type]
    assert chosen is not None
    assert sum(chosen.weights.values()) == pytest.approx(1.0)
    assert chosen.weights.get("tfidf", 0) > chosen.weights.get("trial_0001", 0)
    assert "60 train + validation examples" in chosen.note
    # The TF-IDF member was fitted on the training texts only (refit comes later): it knows their words alone.
    train_words = {w for i in split.train for w in data.inputs[i].split()}
    assert set(tfidf.model.vectorizer.vocabulary_) <= train_words | {
        f"{a} {b}"
        for i in split.train
        for a, b in zip(data.inputs[i].split(), data.inputs[i].split()[1:], strict=False)
    }
    assert (chosen.val_probs.argmax(1) == y_val).mean() == 1.0
    # Labels that are not this split's validation rows: no out-of-fold selection.
    shuffled = _Trial(1, {**head.user_attrs, "cv_labels": np.roll(y_all, 1).tolist()})
    assert select_out_of_fold({"trial_0001": shuffled}, val_probs, y_val, tfidf) is None  # type: ignore[arg-type]
    # Without a classical member the weak head's mix loses to the fine-tuning trial on validation, which takes it all.
    alone = select_out_of_fold(candidates, val_probs, y_val)  # type: ignore[arg-type]
    assert alone is not None and alone.weights == {"trial_0002": 1.0}


def _half_right(y: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Probabilities sure of the true class where `right`, else leaning (0.45 against 0.35) to the next one."""
    rows = np.arange(len(y))
    probs = np.repeat(np.where(right, 0.1, 0.2)[:, None], 3, axis=1)
    probs[rows, y] = np.where(right, 0.8, 0.35)
    probs[rows, (y + 1) % 3] = np.where(right, 0.1, 0.45)
    return probs


def test_out_of_fold_selection_weighs_every_kept_head_that_errs_differently() -> None:
    """Two heads, each right on two thirds of the train + validation rows and each wrong where the
    other is sure: together they are right everywhere, so level 1 keeps both (a linear and an RBF
    head on one backbone's features err apart on ELPV 4 grades). A fine-tuning trial below that mix
    on validation stays out."""
    from advisor.auto.finish import select_out_of_fold

    y_all = np.arange(63) % 3
    third = np.arange(63) % 9 // 3  # 0, 1, 2 in runs of three: every class in every third
    linear, rbf = _half_right(y_all, third != 2), _half_right(y_all, third != 0)
    assert (linear.argmax(1) == y_all).mean() == pytest.approx(2 / 3)
    assert (rbf.argmax(1) == y_all).mean() == pytest.approx(2 / 3)
    y_val = y_all[-9:]
    heads = {
        f"trial_000{n}": _Trial(n, {"cv_probabilities": p.tolist(), "cv_labels": y_all.tolist()})
        for n, p in ((1, linear), (2, rbf))
    }
    tuned_probs = _half_right(y_val, np.arange(9) < 8)  # 8 of 9 on validation: below the mix's 9
    candidates = {**heads, "trial_0003": _Trial(3, {"val_probabilities": tuned_probs.tolist()})}
    val_probs = {"trial_0001": linear[-9:], "trial_0002": rbf[-9:], "trial_0003": tuned_probs}
    chosen = select_out_of_fold(candidates, val_probs, y_val)  # type: ignore[arg-type]
    assert chosen is not None
    assert set(chosen.weights) == {"trial_0001", "trial_0002"}
    assert sum(chosen.weights.values()) == pytest.approx(1.0)
    assert (chosen.val_probs.argmax(1) == y_val).all()
    assert "out-of-fold accuracy 1.0000" in chosen.note and "no fine-tuning trial improved" in chosen.note
    # One head alone (its folds the only ones): level 1 is that head, and the fine-tuning trial now beats it.
    alone = select_out_of_fold(
        {"trial_0001": heads["trial_0001"], "trial_0003": candidates["trial_0003"]}, val_probs, y_val
    )  # type: ignore[arg-type]
    assert alone is not None and "trial_0003" in alone.weights


def test_the_tfidf_member_chooses_c_on_a_large_validation_split_and_reports_its_progress() -> None:
    from types import SimpleNamespace

    from advisor.auto.classical import fit_classical_member, left_out_note
    from advisor.auto.objective import SMALL_VALIDATION

    data, split, y_all = _keyword_split(per_class=420, n_val=340)
    assert len(split.val) >= SMALL_VALIDATION
    config = SimpleNamespace(data_modality="text", seed=0, ensemble=True, priority="balanced")
    steps: list[tuple[str, int, int]] = []
    member = fit_classical_member(config, data, split, lambda *step: steps.append(step))  # type: ignore[arg-type]
    assert member is not None and member.oof_probs is None and member.oof_labels is None
    assert steps == [("TF-IDF member", 0, 1), ("TF-IDF member", 1, 1)]
    # C was chosen on validation, and the probabilities are the training-text model's on those rows.
    y_val = y_all[-len(split.val) :]
    assert member.model.val_accuracy == pytest.approx(float(np.mean(member.val_probs.argmax(1) == y_val)))
    np.testing.assert_array_equal(member.val_probs, member.model.predict_proba([data.inputs[i] for i in split.val]))
    # Without the ensemble there is no member to fit, nor for a mobile export (ONNX has no TF-IDF).
    assert (
        fit_classical_member(
            SimpleNamespace(data_modality="text", seed=0, ensemble=False, priority="balanced"), data, split
        )
        is None
    )  # type: ignore[arg-type]
    mobile = SimpleNamespace(data_modality="text", seed=0, ensemble=True, priority="mobile")
    assert fit_classical_member(mobile, data, split) is None  # type: ignore[arg-type]
    # The report says why for mobile; a fitted member, or no ensemble (the user's own choice), has nothing to say.
    assert left_out_note(mobile, split) == (  # type: ignore[arg-type]
        "The TF-IDF member was left out: `--priority mobile` exports to ONNX, which it has no export for."
    )
    assert left_out_note(config, split) is None  # type: ignore[arg-type]
    assert left_out_note(SimpleNamespace(data_modality="text", ensemble=False), split) is None  # type: ignore[arg-type]


def test_a_class_too_rare_for_folds_has_the_tfidf_member_choose_c_on_validation() -> None:
    """One 'money' text in train + validation cannot be left out of a fold and still be learnt."""
    from types import SimpleNamespace

    from advisor.auto.classical import fit_classical_member

    data, split, _ = _keyword_split(per_class=20, n_val=3)
    money = [i for i in split.train if data.labels[i] == "money"]
    split.train = [i for i in split.train if i not in money[1:]]
    split.val = [i for i in split.val if data.labels[i] != "money"]
    config = SimpleNamespace(data_modality="text", seed=0, ensemble=True, priority="balanced")
    member = fit_classical_member(config, data, split)  # type: ignore[arg-type]
    assert member is not None and member.oof_probs is None  # not cross-validated
    assert member.model.val_accuracy is not None and member.val_probs.shape == (len(split.val), 3)


def test_images_get_a_pixel_member_fitted_on_train_and_cross_validated_on_the_heads_folds() -> None:
    """Digits as PIL images, 12 train + 3 validation per class (validation under SMALL_VALIDATION)."""
    from types import SimpleNamespace

    from advisor.auto.classical import fit_classical_member, left_out_note
    from runners.data import offline
    from runners.pixels import raw_pixels
    from runners.training.head import cv_folds

    digits = offline.digits()
    classes = [str(d) for d in range(10)]
    picked = [i for d in classes for i in np.flatnonzero(np.array(digits.labels) == d)[:15]]
    inputs = [digits.inputs[i] for i in picked]
    labels = [digits.labels[i] for i in picked]
    train = [k for k in range(len(picked)) if k % 15 < 12]
    val = [k for k in range(len(picked)) if k % 15 >= 12]
    data = SimpleNamespace(inputs=inputs, labels=labels)
    split = SimpleNamespace(train=train, val=val, class_names=classes)
    config = SimpleNamespace(data_modality="image", seed=0, ensemble=True, priority="balanced")
    steps: list[tuple[str, int, int]] = []
    member = fit_classical_member(config, data, split, lambda *step: steps.append(step))  # type: ignore[arg-type]
    assert member is not None and member.name == "pixels"
    assert steps[0] == ("pixel member", 0, 5) and steps[-1] == ("pixel member", 5, 5)
    y_all = np.array([classes.index(labels[k]) for k in train + val])
    np.testing.assert_array_equal(member.oof_labels, y_all)
    # Out-of-fold on the folds the head-only trials use: a row's probabilities come from the other folds.
    assert [len(f) for f in cv_folds(y_all, 5, 0)] == [30] * 5
    assert member.oof_probs.shape == (150, 10) and member.model.val_accuracy == np.mean(
        member.oof_probs.argmax(1) == y_all
    )
    assert member.model.val_accuracy > 0.8  # 12 digits a class: the kernel on pixels already reads them
    # The model itself saw the 120 training images only: 120 landmarks, their mean.
    assert len(member.model.kernel.landmarks) == 120
    np.testing.assert_allclose(member.model.kernel.mean, raw_pixels([inputs[k] for k in train]).mean(0), atol=1e-6)
    np.testing.assert_array_equal(member.val_probs, member.model.predict_proba([inputs[k] for k in val]))
    # Its refit is priced as one of the 21 fits it made (4 Cs × 5 folds + 1), on the features it read.
    assert member.read_seconds > 0 and member.refit_seconds > 0
    assert member.features.shape == (150, 32 * 32 * 3)
    refit = member.refit([labels[k] for k in train + val])
    np.testing.assert_allclose(refit.kernel.mean, raw_pixels([inputs[k] for k in train + val]).mean(0), atol=1e-6)
    assert refit.c == member.model.c and len(refit.kernel.landmarks) == 150
    # Over 20,000 train + validation images the member is left out before reading any, and the report says so.
    large = SimpleNamespace(train=list(range(19_990)), val=list(range(11)), class_names=classes)
    assert left_out_note(config, split) is None  # type: ignore[arg-type]
    assert fit_classical_member(config, SimpleNamespace(inputs=[], labels=[]), large) is None  # type: ignore[arg-type]
    assert left_out_note(config, large) == (  # type: ignore[arg-type]
        "The pixel member was left out: 20,001 train + validation examples, over its 20,000 "
        "(reading them as pixels and fitting its kernel would take minutes)."
    )


def test_the_pixel_member_draws_its_landmarks_with_the_search_seed() -> None:
    """Over 1,000 training images the Nyström landmarks are a random draw: `--seed` chooses it, for the
    fit and for the refit on train + validation; two seeds draw two different sets."""
    from types import SimpleNamespace

    from advisor.auto.classical import fit_classical_member
    from runners.data import offline
    from runners.pixels import LANDMARKS, fit_kernel_map, raw_pixels

    digits = offline.digits()
    train, val = list(range(1200)), list(range(1200, 1500))  # C out of fold; the model itself fits on train
    split = SimpleNamespace(train=train, val=val, class_names=[str(d) for d in range(10)])
    pixels = raw_pixels(digits.inputs[:1500])
    members = {}
    for seed in (0, 7):
        config = SimpleNamespace(data_modality="image", seed=seed, ensemble=True, priority="balanced")
        members[seed] = fit_classical_member(config, digits, split)  # type: ignore[arg-type]
    seven = members[7]
    assert seven is not None and members[0] is not None
    assert len(seven.model.kernel.landmarks) == LANDMARKS < len(train)
    np.testing.assert_array_equal(seven.model.kernel.landmarks, fit_kernel_map(pixels[:1200], seed=7).landmarks)
    assert not np.array_equal(seven.model.kernel.landmarks, members[0].model.kernel.landmarks)
    refit = seven.refit(digits.labels[:1500])
    assert refit.seed == 7
    np.testing.assert_array_equal(refit.kernel.landmarks, fit_kernel_map(pixels, seed=7).landmarks)
