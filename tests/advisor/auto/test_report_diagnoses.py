"""The report's per-stage gains and diagnoses columns, from whole searches that play back recorded real trials.

The runner below replays the fixtures' learning curves (tests/advisor/auto/fixtures, see
test_diagnosis.py) through the real objective, study and report; each trial's head strength `C`
names the fixture it plays back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest

from advisor.auto.attrs import TrialAttr
from advisor.auto.config import TuneConfig
from advisor.auto.report import Report
from advisor.auto.search import run_search
from runners import EpochMetrics, TrialResult, TrialSpec

from .conftest import ScriptedRunner

optuna.logging.set_verbosity(optuna.logging.WARNING)
# Recorded plans (1e-6 rates) and the ÷ 10 variant lie outside this small search's ranges, on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Fixed parameter .* is out of range:UserWarning")
FIXTURES = Path(__file__).parent / "fixtures"
PLAYED = ("cv_accuracy", "input_size", "pretrained_input_size", "native_image_size")


class ReplayRunner(ScriptedRunner):
    """Plays back a recorded trial: its curve epoch by epoch (through the objective's callback), its status and sizes."""

    def __init__(self, recordings: dict[float, dict[str, Any]], n_blocks: int) -> None:
        super().__init__(lambda spec: [], n_blocks)
        self.recordings = recordings

    def run(self, spec: TrialSpec, callback: Callable[[EpochMetrics], None] | None = None) -> TrialResult:
        (self.refits if spec.train_on_val else self.specs).append(spec)
        recorded = TrialResult.model_validate(self.recordings[spec.stages[0].head_c or 0.0]["result"])
        for metrics in recorded.curve:
            if callback is not None:
                callback(metrics)
        result = self._result(recorded.status, list(recorded.curve), spec)
        return result.model_copy(update={name: getattr(recorded, name) for name in PLAYED})


def _search(
    monkeypatch: pytest.MonkeyPatch, data: Path, out: Path, names: list[str], n_blocks: int, extra_trials: int = 0
) -> tuple[Report, list[str], optuna.Study]:
    """A search whose first trials are the fixtures, in order (each keyed by its own head strength)."""
    import runners

    recordings: dict[float, dict[str, Any]] = {}
    config = TuneConfig(
        data=data, out=out, backbone="resnet18", weights="none", similarity="similar", pruner="none",
        trials=len(names) + extra_trials, ensemble=False,  # the replayed inputs are ids, not texts to TF-IDF
    )  # fmt: skip
    out.mkdir(parents=True)
    study = optuna.create_study(study_name=config.study_name, storage=config.storage_url, direction="maximize")
    for i, name in enumerate(names):
        fx = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
        key = round(0.001 * (i + 1), 6)  # the replay key; the head strength is not what is diagnosed
        recordings[key] = fx
        params = {k: v for k, v in fx["plan"].items() if v is not None and k != "class_weights"}
        study.enqueue_trial({**params, "head_c": key}, user_attrs={"fixture": name})
    monkeypatch.setattr(runners, "get_runner", lambda modality, **kw: ReplayRunner(recordings, n_blocks))
    report = run_search(config)
    rows = [line for line in (out / "report.md").read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    return report, rows[1:], optuna.load_study(study_name=config.study_name, storage=config.storage_url)


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip("|").split(" | ")]


def test_the_text_report_shows_stage_gains_and_relative_verdicts(monkeypatch, tmp_path) -> None:
    data = tmp_path / "texts.csv"
    data.write_text("text,label\na,x\nb,y\n", encoding="utf-8")
    names = ["bbc20_head_rule_plan", "bbc20_top5_gain", "bbc20_all7_overfit", "bbc20_head_winner", "bbc20_top1_no_gain"]
    report, rows, _ = _search(monkeypatch, data, tmp_path / "out", names, n_blocks=7)
    assert report.modality == "text" and len(rows) == 5
    cells = [_cells(row) for row in rows]
    assert [c[4] for c in cells] == ["0.860", "0.840 → +0.020", "0.840 → +0.020", "0.860", "0.880 → +0.000"]
    diagnoses = [c[6] for c in cells]
    # Every BBC trial overfits (train 0.98–1.0 against validation 0.84–0.88) unaugmented: the text advice.
    assert all("back-translation" in d and "rotation" not in d for d in diagnoses)
    # The head fit scored 0.90 (cross-validated): the top 5 and all 7 blocks (0.86) trained too much. The
    # top block alone (1 of 7, within the guide's 20%) is not too deep, but its stage added nothing.
    # The winner is a head fit: no depth verdict.
    too_much = ["too much unfreezing" in d for d in diagnoses]
    assert too_much == [False, True, True, False, False]
    assert ["under the 1% a stage should add" in d for d in diagnoses] == [False, False, False, False, True]
    assert report.best is not None and report.best.number == 3
    assert [t.stage_gains for t in report.trials][1] == [
        {"stage": 0, "best": 0.84, "gain": None},
        {"stage": 1, "best": 0.86, "gain": pytest.approx(0.02)},
    ]


def test_the_image_report_diagnoses_and_retries_the_accuracy_drop_once(monkeypatch, image_dir, tmp_path) -> None:
    names = [
        "elpv_rule_plan_accuracy_drop",
        "elpv400_head_healthy",
        "elpv120_fed_128",
        "elpv120_40px_blown_up",
        "elpv120_top1_after_head_drop",
    ]
    report, rows, study = _search(monkeypatch, image_dir, tmp_path / "out", names, n_blocks=8, extra_trials=1)
    cells = [_cells(row) for row in rows]
    assert len(cells) == 6
    assert cells[0][4] == "0.796 → −0.092" and cells[4][4] == "0.833 → −0.056"
    diagnoses = [c[6] for c in cells]
    # The ÷ 10 retry (trial 5) replays the same curve: it lost the same 9.2 points, so neither trial is
    # told to divide the rate by 10 again; both say the rate was not the cause.
    for d in (diagnoses[0], diagnoses[5]):
        assert "changed by -9.2% when deeper layers were unfrozen, and by -9.2% at a tenth" in d
        assert "(trial 5): the rate was not the cause" in d and "divide it by 10" not in d
    assert diagnoses[1] == ""  # the healthy head fit
    # This search augments (40 images, under the guide's 5,000): the recorded gaps are no augmentation verdict.
    assert not any("not augmented" in d for d in diagnoses)
    assert "fed at 128×128" in diagnoses[2] and "pretrained at 224×224" in diagnoses[2]
    assert "40 px" in diagnoses[3] and "blown up ×5.6" in diagnoses[3]
    assert "changed by -5.6%" in diagnoses[4] and "Validation loss rose" in diagnoses[4]
    # The 40 px head fit (0.833) beat the rule plan's 2 of 8 blocks (0.796, train 0.966): too deep, here.
    assert "by 17% with 25% of the backbone" in diagnoses[0] and "too much unfreezing" in diagnoses[0]
    # Two trials lost accuracy after unfreezing; the first one's learning rates ÷ 10 ran once, as trial 5.
    retry = study.trials[5]
    assert retry.user_attrs[TrialAttr.RETRY_OF]["trial"] == 0
    assert retry.params["lr_backbone"] == pytest.approx(1e-5) and retry.params["lr_head"] == pytest.approx(1e-4)
    assert retry.params["trainable_blocks"] == 2 and retry.params["tune_epochs"] == 8
    assert "(retry of trial 0: lr_head ×0.1, lr_backbone ×0.1)" in cells[5][1]
    assert sum(TrialAttr.RETRY_OF in t.user_attrs for t in study.trials) == 1
    # What the terminal printed when the retry ended (its stored diagnoses): already the pair's verdict.
    assert any("the rate was not the cause" in d for d in retry.user_attrs[TrialAttr.DIAGNOSES])
    assert not any("divide it by 10" in d for d in retry.user_attrs[TrialAttr.DIAGNOSES])
