"""ONNX export: onnxruntime predicts what `load_predictor` predicts, from the files written alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from runners.classical import fit_tfidf_linear
from runners.ensemble import export_ensemble
from runners.export import export_hf_text, export_timm
from runners.onnx_export import (
    ONNX_FILE,
    PREPROCESSING_FILE,
    PROBA_ATOL,
    OnnxExportError,
    export_onnx,
    load_onnx_predictor,
)
from runners.predict import ImagePredictor, load_predictor

CLASSES = ["class0", "class1", "class2"]
# crop_pct < 1: images are resized to round(32 / 0.875) = 37 and centre-cropped to 32.
DATA_CFG = {
    "input_size": 32,
    "mean": (0.5, 0.4, 0.3),
    "std": (0.2, 0.25, 0.3),
    "interpolation": "bilinear",
    "crop_pct": 0.875,
}


def _timm_folder(path: Path, seed: int) -> Path:
    import timm

    torch.manual_seed(seed)
    model = timm.create_model("resnet18", pretrained=False, num_classes=len(CLASSES)).eval()
    return export_timm(model, "resnet18", CLASSES, DATA_CFG, {}, path)


def _text_folder(path: Path, tiny_bert_dir: Path, max_length: int = 16) -> Path:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    return export_hf_text(model, tokenizer, ["money", "sport", "tech"], max_length, path)


def _labels(predictions: list[tuple[str, float]]) -> list[str]:
    return [label for label, _ in predictions]


def test_image_export_predicts_like_the_pytorch_model(tmp_path, colour_images):
    model_dir = _timm_folder(tmp_path / "model", seed=0)
    images = colour_images(4, size=44, seed=5)[0]  # 12 images, resized and cropped on the way in

    result = export_onnx(model_dir, inputs=images)

    out = model_dir / "onnx"
    assert result.out_dir == out and result.kind == "image" and result.onnx_files == [out / ONNX_FILE]
    assert result.size_bytes == (out / ONNX_FILE).stat().st_size > 1_000_000  # resnet18's weights are inside
    assert result.latency_ms > 0
    assert result.check.passed and result.check.n_examples == 12 and not result.check.generated
    assert result.check.max_abs_diff <= PROBA_ATOL and result.check.same_labels == 12
    reference = load_predictor(model_dir)
    onnx = load_onnx_predictor(out)
    assert _labels(onnx.predict(images)) == _labels(reference.predict(images))
    np.testing.assert_allclose(onnx.predict_proba(images), reference.predict_proba(images), atol=PROBA_ATOL, rtol=0)
    # Batch size is not baked in: one image alone gives what it gave in the batch of 12.
    np.testing.assert_allclose(
        onnx.predict_proba(images[:1]), reference.predict_proba(images[:1]), atol=PROBA_ATOL, rtol=0
    )


def test_a_model_on_dihedral_views_exports_them_inside_the_graph(tmp_path, colour_images):
    import timm

    torch.manual_seed(0)
    model = timm.create_model("resnet18", pretrained=False, num_classes=len(CLASSES)).eval()
    model_dir = export_timm(model, "resnet18", CLASSES, DATA_CFG, {}, tmp_path / "model", views=8)
    images = colour_images(2, size=44, seed=5)[0]

    result = export_onnx(model_dir, inputs=images)

    assert result.check.passed and result.check.max_abs_diff <= PROBA_ATOL
    meta = json.loads((model_dir / "onnx" / PREPROCESSING_FILE).read_text())
    assert "8 dihedral views" in meta["output"]["logits"]["views"]
    onnx, reference = load_onnx_predictor(model_dir / "onnx"), load_predictor(model_dir)
    np.testing.assert_allclose(onnx.predict_proba(images), reference.predict_proba(images), atol=PROBA_ATOL, rtol=0)
    plain = ImagePredictor(reference.model, CLASSES, reference.data_cfg)  # the same weights, one view
    assert not np.allclose(plain.predict_proba(images), onnx.predict_proba(images), atol=1e-3)


def test_image_preprocessing_json_is_enough_to_run_the_onnx_file(tmp_path, colour_images):
    """What a phone app would do: PIL resize + crop + normalise from the JSON, then the graph."""
    import onnxruntime as ort

    model_dir = _timm_folder(tmp_path / "model", seed=1)
    export_onnx(model_dir, inputs=colour_images(1, size=44)[0])
    meta = json.loads((model_dir / "onnx" / PREPROCESSING_FILE).read_text())
    pre = meta["image"]
    assert meta["class_names"] == CLASSES
    assert (pre["resize_shorter_side"], pre["center_crop"], pre["input_size"]) == (37, 32, 32)
    assert pre["mean"] == pytest.approx(DATA_CFG["mean"]) and pre["std"] == pytest.approx(DATA_CFG["std"])

    images = colour_images(2, size=44, seed=8)[0]
    batch = []
    for array in images:
        side = pre["resize_shorter_side"]
        img = Image.fromarray(array).resize((side, side), Image.Resampling.BILINEAR)  # square in, square out
        left = (side - pre["center_crop"]) // 2
        img = img.crop((left, left, left + pre["center_crop"], left + pre["center_crop"]))
        x = (np.asarray(img, dtype=np.float32) / 255 - pre["mean"]) / pre["std"]
        batch.append(x.transpose(2, 0, 1))
    session = ort.InferenceSession(str(model_dir / "onnx" / meta["onnx_file"]), providers=["CPUExecutionProvider"])
    logits = session.run(["logits"], {"pixel_values": np.stack(batch).astype(np.float32)})[0]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    np.testing.assert_allclose(probs, load_predictor(model_dir).predict_proba(images), atol=PROBA_ATOL, rtol=0)


def test_text_export_predicts_like_the_pytorch_model(tmp_path, tiny_bert_dir, keyword_texts):
    model_dir = _text_folder(tmp_path / "model", tiny_bert_dir, max_length=16)
    texts = keyword_texts(3, seed=4)[0]
    texts.append(" ".join(["football goal"] * 20))  # 40 words: truncated at max_length
    texts.append("chip")

    result = export_onnx(model_dir, tmp_path / "onnx", inputs=texts)

    out = tmp_path / "onnx"
    assert result.kind == "text" and result.check.passed and result.check.n_examples == 11
    assert result.check.max_abs_diff <= PROBA_ATOL and result.latency_ms > 0
    meta = json.loads((out / PREPROCESSING_FILE).read_text())
    assert meta["text"]["max_length"] == 16 and meta["class_names"] == ["money", "sport", "tech"]
    assert "tokenizer.json" in meta["text"]["tokenizer_files"]
    assert all((out / name).is_file() for name in meta["text"]["tokenizer_files"])
    reference = load_predictor(model_dir)
    onnx = load_onnx_predictor(out)
    assert _labels(onnx.predict(texts)) == _labels(reference.predict(texts))
    np.testing.assert_allclose(onnx.predict_proba(texts), reference.predict_proba(texts), atol=PROBA_ATOL, rtol=0)


def test_made_up_inputs_when_none_are_given(tmp_path, tiny_bert_dir):
    result = export_onnx(_text_folder(tmp_path / "model", tiny_bert_dir))
    assert result.check.generated and result.check.n_examples == 16 and result.check.passed


def test_ensemble_exports_every_member_and_combines_them_as_the_ensemble_does(tmp_path, colour_images):
    a, b = _timm_folder(tmp_path / "a", seed=2), _timm_folder(tmp_path / "b", seed=3)
    model_dir = export_ensemble([("a", a, 0.25), ("b", b, 0.75)], CLASSES, tmp_path / "model")
    images = colour_images(2, size=44, seed=6)[0]

    result = export_onnx(model_dir, inputs=images)

    out = model_dir / "onnx"
    assert result.kind == "ensemble" and result.members == ["a", "b"]
    assert result.onnx_files == [out / "a" / ONNX_FILE, out / "b" / ONNX_FILE]
    assert result.size_bytes == sum(p.stat().st_size for p in result.onnx_files)
    meta = json.loads((out / PREPROCESSING_FILE).read_text())
    assert [(m["name"], m["weight"]) for m in meta["members"]] == [("a", 0.25), ("b", 0.75)]
    assert result.check.passed and result.check.same_labels == len(images)
    np.testing.assert_allclose(
        load_onnx_predictor(out).predict_proba(images),
        load_predictor(model_dir).predict_proba(images),
        atol=PROBA_ATOL,
        rtol=0,
    )


def test_tfidf_models_are_refused_by_name_and_nothing_is_written(tmp_path, keyword_texts, tiny_bert_dir):
    texts, labels = keyword_texts(6)
    tfidf = fit_tfidf_linear(texts, labels, texts, labels, ["money", "sport", "tech"]).export(tmp_path / "tfidf")
    with pytest.raises(OnnxExportError, match="TF-IDF linear model"):
        export_onnx(tfidf)
    assert not (tfidf / "onnx").exists()

    bert = _text_folder(tmp_path / "bert", tiny_bert_dir)
    mixed = export_ensemble([("bert", bert, 0.5), ("tfidf", tfidf, 0.5)], ["money", "sport", "tech"], tmp_path / "mix")
    with pytest.raises(OnnxExportError, match="ensemble member 'tfidf' .* TF-IDF linear model"):
        export_onnx(mixed)
    assert not (mixed / "onnx").exists()


def test_a_folder_that_is_not_a_model_is_refused(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.png").write_bytes(b"")
    with pytest.raises(OnnxExportError, match="not a model folder"):
        export_onnx(tmp_path / "photos")
    with pytest.raises(OnnxExportError, match="no such model folder"):
        export_onnx(tmp_path / "missing")


def test_an_unrelated_output_folder_is_not_overwritten(tmp_path):
    model_dir = _timm_folder(tmp_path / "model", seed=0)
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(OnnxExportError, match="not an earlier ONNX export"):
        export_onnx(model_dir, target)
    assert (target / "notes.txt").read_text() == "keep me" and not (target / ONNX_FILE).exists()


def test_the_check_fails_beyond_the_tolerance_and_counts_label_agreement():
    from runners.onnx_export import compare

    reference = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25]])
    close = reference + np.array([[5e-5, -5e-5, 0.0], [0.0, 0.0, 0.0]])
    assert compare(reference, close, PROBA_ATOL).passed
    flipped = np.array([[0.7, 0.2, 0.1], [0.3, 0.45, 0.25]])  # the second row's label changes
    check = compare(reference, flipped, PROBA_ATOL)
    assert not check.passed and check.max_abs_diff == pytest.approx(0.1) and check.same_labels == 1
    with pytest.raises(OnnxExportError, match="shape"):
        compare(reference, reference[:, :2], PROBA_ATOL)
