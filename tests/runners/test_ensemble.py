"""Ensemble selection on hand-made probabilities, column matching by class name, and export round trips."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from runners.classical import fit_tfidf_linear
from runners.ensemble import EnsemblePredictor, export_ensemble, greedy_selection, load_ensemble
from runners.errors import RunnerError
from runners.export import export_hf_text, export_timm
from runners.predict import ImagePredictor, TextPredictor, load_predictor

# Six examples, three classes. Member "a" is right on the first three (0.8 on the truth) and wrong
# on the last three (0.45 on a wrong class, 0.35 on the truth); "b" mirrors it. Alone each scores
# 0.5; their average puts (0.8 + 0.35) / 2 = 0.575 on the truth everywhere: accuracy 1.
Y = np.array([0, 1, 2, 0, 1, 2])


def _row(truth: int, p_truth: float, wrong: int | None = None, p_wrong: float = 0.0) -> list[float]:
    rest = [c for c in range(3) if c not in (truth, wrong)]
    row = [0.0, 0.0, 0.0]
    row[truth] = p_truth
    if wrong is not None:
        row[wrong] = p_wrong
    for c in rest:
        row[c] = (1.0 - p_truth - p_wrong) / len(rest)
    return row


def _complementary() -> dict[str, np.ndarray]:
    right = [_row(int(t), 0.8) for t in Y[:3]]
    wrong = [_row(int(t), 0.35, (int(t) + 1) % 3, 0.45) for t in Y[3:]]
    wrong_b = [_row(int(t), 0.35, (int(t) + 1) % 3, 0.45) for t in Y[:3]]
    right_b = [_row(int(t), 0.8) for t in Y[3:]]
    return {"a": np.array(right + wrong), "b": np.array(wrong_b + right_b)}


def _accuracy(probs: np.ndarray) -> float:
    return float(np.mean(probs.argmax(1) == Y))


def test_two_complementary_members_beat_each_alone_and_share_the_weight() -> None:
    probs = _complementary()
    assert _accuracy(probs["a"]) == _accuracy(probs["b"]) == 0.5
    assert _accuracy((probs["a"] + probs["b"]) / 2) == 1.0
    # 25 rounds end on an odd count (13 : 12); the best prefix is an even split.
    assert greedy_selection(probs, Y) == {"a": 0.5, "b": 0.5}
    assert greedy_selection(probs, Y, rounds=3) == {"a": 0.5, "b": 0.5}


def test_a_useless_member_gets_no_weight() -> None:
    probs = {**_complementary(), "uniform": np.full((6, 3), 1 / 3)}
    assert greedy_selection(probs, Y) == {"a": 0.5, "b": 0.5}


def test_a_single_perfect_member_takes_all_the_weight() -> None:
    perfect = np.array([_row(int(t), 0.9) for t in Y])
    assert greedy_selection({**_complementary(), "perfect": perfect}, Y) == {"perfect": 1.0}


def test_ties_go_to_lower_log_loss_then_to_name_order() -> None:
    probs = _complementary()
    sharper = probs["b"].copy()
    sharper[3:] = [_row(int(t), 0.9) for t in Y[3:]]  # same accuracy as "a" (0.5), lower log-loss
    assert greedy_selection({"a": probs["a"], "sharp": sharper}, Y, rounds=1) == {"sharp": 1.0}
    assert greedy_selection({"z": probs["a"], "y": probs["a"].copy()}, Y, rounds=1) == {"y": 1.0}


@pytest.mark.parametrize(
    ("probs", "y", "rounds", "message"),
    [
        ({}, Y, 5, "empty"),
        ({"a": np.ones((6, 3)) / 3, "b": np.ones((5, 3)) / 3}, Y, 5, "one shape"),
        ({"a": np.ones((6, 3)) / 3}, np.array([0, 1, 2, 3, 0, 1]), 5, "class indices"),
        ({"a": np.ones((6, 3)) / 3}, Y, 0, "rounds"),
    ],
)
def test_selection_refuses_bad_inputs(probs: dict, y: np.ndarray, rounds: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        greedy_selection(probs, y, rounds=rounds)


class FixedPredictor:
    """Returns the same probability rows whatever the inputs (one row per input, cycled)."""

    def __init__(self, rows: list[list[float]], class_names: list[str], modality: str = "text") -> None:
        self.rows, self.class_names, self.modality = np.array(rows), class_names, modality

    def predict_proba(self, inputs: list) -> np.ndarray:
        return self.rows[np.arange(len(inputs)) % len(self.rows)]

    def predict(self, inputs: list) -> list[tuple[str, float]]:
        raise NotImplementedError


def test_members_columns_are_matched_by_class_name_and_weights_normalised() -> None:
    first = FixedPredictor([[0.7, 0.2, 0.1]], ["x", "y", "z"])
    second = FixedPredictor([[0.1, 0.3, 0.6]], ["z", "x", "y"])  # x 0.3, y 0.6, z 0.1
    ensemble = EnsemblePredictor([(first, 3.0), (second, 1.0)], ["y", "z", "x"])
    expected = 0.75 * np.array([0.2, 0.1, 0.7]) + 0.25 * np.array([0.6, 0.1, 0.3])  # y 0.3, z 0.1, x 0.6
    np.testing.assert_allclose(ensemble.predict_proba(["doc", "doc"]), [expected, expected], rtol=0, atol=1e-15)
    assert ensemble.predict(["doc"]) == [("x", pytest.approx(0.6))]
    assert ensemble.modality == "text"


def test_ensemble_refuses_mixed_modalities_other_classes_and_bad_weights() -> None:
    text = FixedPredictor([[0.5, 0.5]], ["a", "b"])
    with pytest.raises(RunnerError, match="mix modalities"):
        EnsemblePredictor([(text, 1.0), (FixedPredictor([[0.5, 0.5]], ["a", "b"], "image"), 1.0)], ["a", "b"])
    with pytest.raises(RunnerError, match="differ"):
        EnsemblePredictor([(text, 1.0), (FixedPredictor([[0.5, 0.5]], ["a", "c"]), 1.0)], ["a", "b"])
    with pytest.raises(RunnerError, match="positive"):
        EnsemblePredictor([(text, 0.0)], ["a", "b"])


def _tiny_resnet(seed: int, class_names: list[str], model_dir: Path) -> ImagePredictor:
    import timm

    torch.manual_seed(seed)
    model = timm.create_model("resnet18", pretrained=False, num_classes=len(class_names)).eval()
    data_cfg = {"input_size": 32, "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25), "crop_pct": 1.0}
    export_timm(model, "resnet18", class_names, data_cfg, {}, model_dir)
    return ImagePredictor(model, class_names, data_cfg)


def test_exported_image_ensemble_predicts_what_the_in_memory_one_does(tmp_path: Path, colour_images) -> None:
    members = [
        _tiny_resnet(0, ["class0", "class1", "class2"], tmp_path / "r0"),
        _tiny_resnet(1, ["class2", "class0", "class1"], tmp_path / "r1"),
    ]
    classes = ["class0", "class1", "class2"]
    in_memory = EnsemblePredictor(list(zip(members, [0.6, 0.4], strict=True)), classes)
    out = export_ensemble([("r0", tmp_path / "r0", 0.6), ("r1", tmp_path / "r1", 0.4)], classes, tmp_path / "ens")
    config = json.loads((out / "ensemble.json").read_text())
    assert config == {
        "runner": "ensemble",
        "label_names": classes,
        "members": [{"name": "r0", "path": "r0", "weight": 0.6}, {"name": "r1", "path": "r1", "weight": 0.4}],
    }
    images = colour_images(3, size=40, seed=9)[0]
    reloaded = load_predictor(out)
    assert isinstance(reloaded, EnsemblePredictor) and reloaded.modality == "image"
    before, after = in_memory.predict_proba(images), reloaded.predict_proba(images)
    assert before.shape == (9, 3)
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-6)
    np.testing.assert_allclose(after.sum(1), 1.0, atol=1e-12)
    assert [label for label, _ in reloaded.predict(images)] == [label for label, _ in in_memory.predict(images)]


def test_scoring_an_exported_ensemble_scores_each_member_as_it_scores_alone(tmp_path: Path, colour_images) -> None:
    """The test pass of an ensemble also gives each member's own confusion matrix, by member name:
    the one that member's folder gets when it is scored by itself."""
    from runners import TimmRunner
    from runners.specs import Confusion

    classes = ["class0", "class1", "class2"]
    _tiny_resnet(0, classes, tmp_path / "r0")
    _tiny_resnet(1, ["class2", "class0", "class1"], tmp_path / "r1")  # its own column order
    out = export_ensemble([("r0", tmp_path / "r0", 0.7), ("r1", tmp_path / "r1", 0.3)], classes, tmp_path / "ens")
    images, labels = colour_images(4, size=40, seed=5)
    runner = TimmRunner()
    alone = {name: runner.score_saved(tmp_path / name, images, labels) for name in ("r0", "r1")}
    assert alone["r0"].counts != alone["r1"].counts  # so a member scored as the other would show
    scored = runner.score_saved(out, images, labels)
    assert scored.members == alone and not alone["r0"].members  # a single model has no members
    reference = Confusion.of(labels, [label for label, _ in load_predictor(out).predict(images)])
    assert (scored.classes, scored.counts) == (reference.classes, reference.counts)  # the ensemble's own


def test_exported_text_ensemble_with_bert_and_tfidf_predicts_what_the_in_memory_one_does(
    tmp_path: Path, tiny_bert_dir: Path, keyword_texts
) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    classes = ["money", "sport", "tech"]
    bert_classes = ["sport", "tech", "money"]
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    export_hf_text(model, tokenizer, bert_classes, 16, tmp_path / "bert")
    bert = TextPredictor(model, tokenizer, bert_classes, 16)
    texts, labels = keyword_texts(8, seed=1)
    val_texts, val_labels = keyword_texts(4, seed=2)
    tfidf = fit_tfidf_linear(texts, labels, val_texts, val_labels, classes, cs=(1.0, 10.0))
    tfidf.export(tmp_path / "tfidf")

    weights = greedy_selection(
        {"bert": bert.predict_proba(val_texts)[:, [2, 0, 1]], "tfidf": tfidf.predict_proba(val_texts)},
        np.array([classes.index(label) for label in val_labels]),
    )
    assert weights == {"tfidf": 1.0}  # the random-weight BERT adds nothing to a keyword task TF-IDF solves
    # Export both anyway (weights 0.3 / 0.7) so that both kinds of member travel through the folder.
    in_memory = EnsemblePredictor([(bert, 0.3), (tfidf, 0.7)], classes)
    out = export_ensemble(
        [("bert", tmp_path / "bert", 0.3), ("tfidf", tmp_path / "tfidf", 0.7)], classes, tmp_path / "e"
    )
    reloaded = load_predictor(out)
    probe = keyword_texts(3, seed=9)[0]
    np.testing.assert_allclose(reloaded.predict_proba(probe), in_memory.predict_proba(probe), rtol=0, atol=1e-6)
    assert [label for label, _ in reloaded.predict(probe)] == [label for label, _ in in_memory.predict(probe)]


def _tfidf_dir(path: Path, keyword_texts, seed: int = 0) -> Path:
    texts, labels = keyword_texts(6, seed=seed)
    fit_tfidf_linear(texts, labels, texts, labels, ["money", "sport", "tech"], cs=(1.0,)).export(path)
    return path


def test_export_replaces_an_existing_folder_only_when_complete(tmp_path: Path, keyword_texts, monkeypatch) -> None:
    member = _tfidf_dir(tmp_path / "m", keyword_texts)
    out = export_ensemble([("m", member, 1.0)], ["money", "sport", "tech"], tmp_path / "out")
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))

    original, copies = shutil.copytree, []

    def failing_copytree(src, dst, *args, **kwargs):
        copies.append(dst)
        if len(copies) == 2:
            raise KeyboardInterrupt  # interrupted while copying the second member
        return original(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copytree", failing_copytree)
    with pytest.raises(KeyboardInterrupt):
        export_ensemble([("x", member, 1.0), ("y", member, 1.0)], ["money", "sport", "tech"], tmp_path / "out")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "out"]  # no staging folder left behind

    monkeypatch.setattr(shutil, "copytree", original)
    export_ensemble([("x", member, 1.0), ("y", member, 2.0)], ["money", "sport", "tech"], tmp_path / "out")
    assert [m["name"] for m in json.loads((out / "ensemble.json").read_text())["members"]] == ["x", "y"]
    assert not (out / "m").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["m", "out"]


@pytest.mark.parametrize(
    ("name", "weight", "message"),
    [("a/b", 1.0, "folder name"), ("ensemble.json", 1.0, "folder name"), ("m", 0.0, "positive")],
)
def test_export_refuses_bad_members(tmp_path: Path, keyword_texts, name: str, weight: float, message: str) -> None:
    member = _tfidf_dir(tmp_path / "m", keyword_texts)
    with pytest.raises(RunnerError, match=message):
        export_ensemble([(name, member, weight)], ["money", "sport", "tech"], tmp_path / "out")
    with pytest.raises(RunnerError, match="unique"):
        export_ensemble([("m", member, 1.0), ("m", member, 1.0)], ["money", "sport", "tech"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_load_refuses_a_member_path_outside_the_folder(tmp_path: Path, keyword_texts) -> None:
    member = _tfidf_dir(tmp_path / "m", keyword_texts)
    out = export_ensemble([("m", member, 1.0)], ["money", "sport", "tech"], tmp_path / "out")
    config = json.loads((out / "ensemble.json").read_text())
    config["members"][0]["path"] = "../m"
    (out / "ensemble.json").write_text(json.dumps(config))
    with pytest.raises(RunnerError, match="leaves the ensemble folder"):
        load_ensemble(out)


def _variant(base: ImagePredictor, change: list[str], data_cfg: dict | None = None) -> ImagePredictor:
    """A copy of `base` whose named parameters or buffers are shifted by 0.1 (the rest equal)."""
    import copy

    model = copy.deepcopy(base.model)
    state = model.state_dict()
    for name in change:
        state[name] += 0.1
    return ImagePredictor(model, base.class_names, data_cfg or base.data_cfg)


def _calls(module: torch.nn.Module) -> list[int]:
    seen: list[int] = []
    module.register_forward_hook(lambda *_: seen.append(1))
    return seen


def test_members_that_share_their_bottom_blocks_run_them_once_and_predict_as_they_would_alone(
    tmp_path: Path, colour_images
) -> None:
    from runners.ensemble import shared_depth

    classes = ["class0", "class1", "class2"]
    base = _tiny_resnet(0, classes, tmp_path / "r0")  # resnet18: stem, layer1..layer4 (5 blocks)
    top = _variant(base, ["layer4.1.conv2.weight", "fc.weight"])  # fine-tuned its top block and head
    head = _variant(base, ["fc.bias"])  # a head-only trial: the whole backbone is the base's
    assert shared_depth(base, top) == 4 and shared_depth(base, head) == 5
    # BatchNorm statistics are part of a block: a moved running mean in layer1 leaves the stem alone shared.
    assert shared_depth(base, _variant(base, ["layer1.0.bn1.running_mean"])) == 1
    # Inputs prepared differently share nothing, whatever the weights.
    assert shared_depth(base, _variant(base, [], {**base.data_cfg, "mean": (0.4, 0.5, 0.5)})) == 0

    members = [base, top, head]
    alone = [m.predict_proba(colour_images(3, size=40, seed=9)[0]) for m in members]
    ensemble = EnsemblePredictor(list(zip(members, [0.5, 0.3, 0.2], strict=True)), classes)
    assert ensemble.groups == [([0, 1, 2], 4)]  # the head-only member joins at the depth the group shares
    stem_runs = [_calls(m.model.layer1) for m in members]
    top_runs = [_calls(m.model.layer4) for m in members]
    images = colour_images(3, size=40, seed=9)[0]
    mixed = ensemble.predict_proba(images)
    expected = sum(w * p for w, p in zip([0.5, 0.3, 0.2], alone, strict=True))
    np.testing.assert_allclose(mixed, expected, rtol=0, atol=1e-6)
    batches = -(-len(images) // base.batch_size)
    assert [len(r) for r in stem_runs] == [batches, 0, 0]  # the shared blocks ran once, in the first member
    assert [len(r) for r in top_runs] == [batches] * 3  # each member ran its own top block


def test_text_members_share_the_encoder_layers_they_hold_alike(tiny_bert_dir: Path, keyword_texts) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from runners.ensemble import shared_depth

    classes = ["sport", "tech", "money"]
    predictors = []
    for shift in (0.0, 0.1):
        model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir)
        with torch.no_grad():
            model.bert.encoder.layer[-1].output.dense.weight += shift  # the second fine-tuned its top layer
        predictors.append(TextPredictor(model, AutoTokenizer.from_pretrained(tiny_bert_dir), classes, 16))
    first, second = predictors
    assert first.adapter is not None and shared_depth(first, second) == first.adapter.n_blocks - 1
    texts = keyword_texts(4, seed=3)[0]
    ensemble = EnsemblePredictor([(first, 0.6), (second, 0.4)], classes)
    assert ensemble.groups == [([0, 1], first.adapter.n_blocks - 1)]
    expected = 0.6 * first.predict_proba(texts) + 0.4 * second.predict_proba(texts)
    np.testing.assert_allclose(ensemble.predict_proba(texts), expected, rtol=0, atol=1e-6)
