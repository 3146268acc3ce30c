"""`advisor auto` end to end on real data and real weights: ELPV subset, EfficientNet-Lite0 from the packaged weights.

Slow-ish (a few minutes on 2 CPU cores): every trial trains a real model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from advisor.auto.stacking import stored_classical
from advisor.cli.main import app
from advisor.examples import write_example

pytest.importorskip("elpv_dataset", reason="needs the offline extra")
RUNNER = CliRunner()


@pytest.fixture(scope="module")
def elpv_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_example("elpv", tmp_path_factory.mktemp("elpv") / "data", limit=80, seed=1, link=True)


def _auto(data: Path, out: Path, trials: int) -> tuple[dict, str]:
    args = [
        "auto",
        str(data),
        "--out",
        str(out),
        "--budget-minutes",
        "6",
        "--trials",
        str(trials),
        "--backbone",
        "efficientnet_lite0",
        "--max-epochs-per-stage",
        "2",
        "--batch-size",
        "16",
        "--seed",
        "3",
    ]
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "ℹ Similarity measured as 'different'" in result.output  # said before the first trial starts
    first_trial = re.search(r"trial \d+ ", result.output)
    assert first_trial is not None and result.output.index("Similarity measured") < first_trial.start()
    return json.loads((out / "report.json").read_text()), result.output


def test_auto_search_resume_and_predict(elpv_small: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    first, output = _auto(elpv_small, out, trials=3)
    assert first["backbone"] == "efficientnet_lite0" and first["modality"] == "image"
    # No --similarity: measured from the data with a frozen pass (electroluminescence cells → different).
    assert any(note.startswith("Similarity measured as 'different'") for note in first["notes"]), first["notes"]
    assert first["recommendation"]["rules"][0] == "measured:image_top_drift_different"
    assert first["n_trials"] == 3
    assert first["n_pruned"] == sum(t["state"] == "PRUNED" for t in first["trials"])
    assert first["n_complete"] + first["n_pruned"] + first["n_failed"] == 3
    baseline = first["baseline"]
    assert baseline["rule_plan"] and baseline["params"]["trainable_blocks"] == 0  # 80 images → feature extraction
    assert first["best"]["value"] >= baseline["value"]
    assert all(len(t["curve"]) >= 1 for t in first["trials"] if t["state"] == "COMPLETE")
    for plot in ("optimization_history.png", "learning_curves.png"):
        assert (out / plot).stat().st_size > 1000
    # Each long step outside the trials said how far it got (off a terminal: one line as it ends).
    n_test = len(json.loads((out / "split.json").read_text())["test"])
    steps = [
        (stage, int(done), int(total)) for stage, done, total in re.findall(r"✓ (.+): (\d+)/(\d+) in \d+ s", output)
    ]
    assert steps[:4] == [
        ("reading data", 80, 80),
        ("frozen pass: efficientnet_lite0", 80 - n_test, 80 - n_test),
        ("pixel member", 5, 5),  # a validation split this small: its C is chosen on 5 folds
        ("scoring the exported model on the test split", n_test, n_test),
    ]
    # Then, when time was left, the selected trial's own model (no refit) for comparison.
    assert all(re.fullmatch(r"scoring trial \d+ on the test split", stage) for stage, _, _ in steps[4:]), steps
    assert output.index("✓ frozen pass") < output.index("✓ pixel member") < output.index("trial 0 ")
    assert {"data", "measuring", "setup", "pixels", "trials", "finish", "test"} <= first["phase_seconds"].keys()
    # The pixel member's out-of-fold rows (train + validation) are kept with the study, for every
    # worker's bar on a fine-tuned trial.
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{out / 'study.db'}")
    stored = stored_classical(study)
    assert stored is not None and stored.name == "pixels"
    assert stored.oof_probs.shape == (80 - n_test, 2) and len(stored.oof_labels) == 80 - n_test

    second, _ = _auto(elpv_small, out, trials=4)  # resume: three trials kept, one more run
    assert second["n_trials"] == 4
    assert [t["params"] for t in second["trials"][:3]] == [t["params"] for t in first["trials"]]
    assert second["elapsed_seconds"] > first["elapsed_seconds"]

    # The exported best model predicts the held-out test split exactly as scored during the search.
    split = json.loads((out / "split.json").read_text())
    test_files = [str(elpv_small / item) for item in split["test"]]
    predicted = RUNNER.invoke(app, ["predict", str(out / "model"), *test_files, "--json"])
    assert predicted.exit_code == 0, predicted.output
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert len(rows) == len(test_files)
    accuracy = sum(r["label"] == Path(r["input"]).parent.name for r in rows) / len(rows)
    assert accuracy == pytest.approx(second["test_accuracy"], abs=1e-9)
    assert second["test_accuracy"] > 0.5
