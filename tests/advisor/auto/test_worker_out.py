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
