"""Each worker writes under its own --out; the finishing phase finds every trial's model from the folder it recorded."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from advisor.auto.attrs import TrialAttr
from advisor.auto.config import TuneConfig
from advisor.auto.search import run_search
from advisor.auto.workers import stored_config
from advisor.cli.main import app
from runners import TrialSpec

from .conftest import ScriptedRunner

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _by_folder(spec: TrialSpec) -> list[float]:
    """Trials run by a joining worker (written under OUT/workers or under its --out, "joined") score best."""
    joined = spec.output_dir is not None and {"workers", "joined"} & set(Path(spec.output_dir).parts)
    return [0.9 if joined else 0.6] * sum(s.epochs for s in spec.stages)


def test_workers_write_under_their_own_out_and_the_report_finds_every_model(
    monkeypatch: pytest.MonkeyPatch, image_dir: Path, tmp_path: Path
) -> None:
    import runners

    runner = ScriptedRunner(_by_folder)
    monkeypatch.setattr(runners, "get_runner", lambda modality, **kw: runner)
    out = tmp_path / "out"
    settings = {"backbone": "resnet18", "weights": "none", "max_epochs_per_stage": 1, "refit": False}
    config = TuneConfig(data=image_dir, out=out, trials=2, **settings)
    storage = config.storage_url
    run_search(config)

    # A worker given --out writes there; one without writes under OUT/workers/<host>-<pid>.
    chosen = tmp_path / "joined"
    result = CliRunner().invoke(app, ["worker", "--storage", storage, "--trials", "3", "--out", str(chosen)])
    assert result.exit_code == 0, result.output
    default = stored_config(storage, "advisor", trials=4)
    assert default.out == out / "workers" / f"{socket.gethostname()}-{os.getpid()}"
    run_search(default, worker=2)

    study = optuna.load_study(study_name="advisor", storage=storage)
    folders = {t.number: t.user_attrs[TrialAttr.TRIAL_DIR] for t in study.get_trials() if t.state.is_finished()}
    assert folders == {
        0: str((out / "trials" / "0000").resolve()),
        1: str((out / "trials" / "0001").resolve()),
        2: str((chosen / "trials" / "0002").resolve()),
        3: str((default.out / "trials" / "0003").resolve()),
    }
    assert all((Path(folder) / "model").is_dir() for folder in folders.values())

    # The study's owner finishes from every worker's folder: the best trial (a worker's, 0.9) is
    # the exported model, and the report says where each trial's files are.
    report = run_search(config.model_copy(update={"trials": 4}))
    assert report.n_trials == 4 and report.best is not None and report.best.value == pytest.approx(0.9)
    assert (out / "model" / "weights.txt").read_text() == "0.9"
    assert {t.number: t.folder for t in report.trials} == folders
    assert json.loads((out / "report.json").read_text())["trials"][2]["folder"] == folders[2]


def test_a_worker_without_finish_runs_trials_and_leaves_the_report_to_the_study_owner(
    monkeypatch: pytest.MonkeyPatch, image_dir: Path, tmp_path: Path
) -> None:
    """`advisor worker --no-finish` (what `advisor auto --workers N` starts beside itself) runs its
    trials in its own folder and writes no model and no report: the owner's finish exports the study
    once. Only a process that finishes fits the classical member its ensemble may hold."""
    import runners
    from advisor.auto import search

    runner = ScriptedRunner(_by_folder)
    monkeypatch.setattr(runners, "get_runner", lambda modality, **kw: runner)
    fitted: list[Path] = []
    monkeypatch.setattr(search, "fit_classical_member", lambda config, *args: fitted.append(config.out))
    out = tmp_path / "out"
    settings = {"backbone": "resnet18", "weights": "none", "max_epochs_per_stage": 1, "refit": False}
    config = TuneConfig(data=image_dir, out=out, trials=1, **settings)
    run_search(config)
    joined = tmp_path / "joined"
    args = ["worker", "--storage", config.storage_url, "--trials", "3", "--out", str(joined), "--index", "1"]
    result = CliRunner().invoke(app, [*args, "--no-finish"])
    assert result.exit_code == 0, result.output
    assert "worker 1: 2 trials finished" in result.output
    assert [p.name for p in joined.iterdir()] == ["trials"]  # no model, no report, no split
    assert sorted(p.name for p in (joined / "trials").iterdir()) == ["0001", "0002"]
    study = optuna.load_study(study_name="advisor", storage=config.storage_url)
    finished = [t for t in study.get_trials() if t.state.is_finished()]
    assert [(t.number, t.user_attrs[TrialAttr.WORKER]) for t in finished] == [(0, 0), (1, 1), (2, 1)]
    assert fitted == [out]  # the owner's, not the trials-only worker's
    # A worker that finishes (the default) fits it too, and writes its report and model.
    result = CliRunner().invoke(app, ["worker", "--storage", config.storage_url, "--trials", "4", "--out", str(joined)])
    assert result.exit_code == 0, result.output
    assert fitted == [out, joined] and (joined / "report.json").is_file() and (joined / "model").is_dir()


def test_local_workers_get_what_is_left_of_the_budget_and_run_trials_only(
    monkeypatch: pytest.MonkeyPatch, image_dir: Path, tmp_path: Path
) -> None:
    """Started with their own full budget and their own finish, two local workers had ended a
    3-minute run 20% past it. They get the minutes the starting run has left, run trials only, and
    none starts once nothing is left."""
    from advisor.auto import workers

    started: list[list[str]] = []
    monkeypatch.setattr(workers.subprocess, "Popen", lambda command, **kw: started.append(command))
    config = TuneConfig(data=image_dir, out=tmp_path, workers=3, backbone="resnet18", weights="none")
    assert workers.start_local_workers(config, 0.0) == [] and started == []
    workers.start_local_workers(config, 2.375)
    assert len(started) == 2
    for index, command in enumerate(started, start=1):
        assert command[command.index("--index") + 1] == str(index)
        assert float(command[command.index("--budget-minutes") + 1]) == 2.375
        assert "--no-finish" in command
