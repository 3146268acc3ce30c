"""`advisor auto --priority mobile` ends with an ONNX export checked on the test split, in the report."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import optuna
import pytest

from advisor.auto.config import TuneConfig
from advisor.auto.mobile import export_for_mobile
from advisor.auto.report import Report
from advisor.auto.search import run_search

from ...tiny_models import WORDS, save_tiny_bert

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def mobile_search(tmp_path_factory: pytest.TempPathFactory) -> tuple[TuneConfig, Report]:
    """A tiny text search (keyword CSV, 2-layer BERT) with --priority mobile and no ensemble."""
    root = tmp_path_factory.mktemp("mobile")
    rnd = random.Random(0)
    with (root / "data.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for label, words in WORDS.items():
            writer.writerows((" ".join(rnd.choices(words.split(), k=6)), label) for _ in range(20))
    save_tiny_bert(root / "bert")
    config = TuneConfig(
        data=root / "data.csv",
        out=root / "out",
        backbone="tiny-bert",
        weights=str(root / "bert"),
        similarity="similar",
        priority="mobile",
        ensemble=False,
        trials=2,
        budget_minutes=5,
        max_epochs_per_stage=1,
        batch_size=16,
        max_length=16,
    )
    return config, run_search(config)


def test_mobile_search_reports_the_onnx_export_checked_on_the_test_split(mobile_search) -> None:
    config, report = mobile_search
    assert report.model_dir is not None and report.onnx is not None
    onnx_file = Path(report.model_dir) / "onnx" / "model.onnx"
    assert report.onnx["onnx_files"] == [str(onnx_file)]
    assert report.onnx["size_bytes"] == onnx_file.stat().st_size and report.onnx["latency_ms"] > 0
    check = report.onnx["check"]
    test_ids = json.loads((config.out / "split.json").read_text())["test"]
    assert check["passed"] and check["n_examples"] == len(test_ids) > 0
    assert report.onnx["checked_on"] == "test-split examples" and check["max_abs_diff"] <= check["tolerance"]
    assert "onnx" in report.phase_seconds
    markdown = (config.out / "report.md").read_text()
    assert f"onnxruntime check passed on {check['n_examples']} test-split examples" in markdown
    assert "ms per example (model only, batch 1, 1 CPU thread" in markdown
    saved = Report.model_validate_json((config.out / "report.json").read_text())
    assert saved.onnx == report.onnx


def test_a_tfidf_model_gives_a_note_and_other_priorities_export_nothing(mobile_search, tmp_path) -> None:
    from runners.classical import fit_tfidf_linear

    config, report = mobile_search
    texts = [" ".join(ws.split()[:4]) for ws in WORDS.values()] * 2
    labels = list(WORDS) * 2
    tfidf = fit_tfidf_linear(texts, labels, texts, labels, sorted(WORDS)).export(tmp_path / "tfidf")
    plain = report.model_copy(update={"onnx": None, "model_dir": str(tfidf), "notes": []})

    noted, phase = export_for_mobile(plain, config, texts, False, lambda: 0.0)
    assert noted.onnx is None and phase == {"onnx": 0.0}
    assert len(noted.notes) == 1 and "TF-IDF linear model" in noted.notes[0]
    assert not (tmp_path / "tfidf" / "onnx").exists()

    balanced = config.model_copy(update={"priority": "balanced"})
    assert export_for_mobile(plain, balanced, texts, False, lambda: 0.0) == (plain, {})
    assert export_for_mobile(plain, config, texts, True, lambda: 0.0) == (plain, {})  # interrupted
