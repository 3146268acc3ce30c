"""Distributed search on a real PostgreSQL server (started by `make test`; URL in ADVISOR_TEST_POSTGRES_URL).

Workers are real `advisor worker` processes training a tiny randomly initialised ResNet on a tiny
image folder: the point is the coordination, not the accuracy.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import optuna
import pytest
from PIL import Image
from typer.testing import CliRunner

from advisor.auto.storage import make_storage
from advisor.cli.main import app

URL = os.environ.get("ADVISOR_TEST_POSTGRES_URL")
pytestmark = pytest.mark.usefixtures("postgres_url")  # skips without a server (fails under CI=true)
RUNNER = CliRunner()


@pytest.fixture(scope="module")
def colour_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three colour classes, 14 images each: a random-init CNN learns them in an epoch or two."""
    root = tmp_path_factory.mktemp("colours")
    rng = np.random.default_rng(0)
    for c in range(3):
        (root / f"class{c}").mkdir()
        for i in range(14):
            a = rng.integers(0, 80, (32, 32, 3), dtype=np.uint8)
            a[..., c] += 150
            Image.fromarray(a).save(root / f"class{c}" / f"{i}.png")
    return root


def _auto_args(data: Path, out: Path, study: str, trials: int, *extra: str) -> list[str]:
    return [
        "auto",
        str(data),
        "--out",
        str(out),
        "--storage",
        str(URL),
        "--study-name",
        study,
        "--trials",
        str(trials),
        "--backbone",
        "resnet18",
        "--weights",
        "none",
        "--max-epochs-per-stage",
        "2",
        "--batch-size",
        "16",
        "--budget-minutes",
        "8",
        *extra,
    ]


def _worker(study: str, index: int, trials: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ADVISOR_STORAGE": str(URL), "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable,
        "-m",
        "advisor",
        "worker",
        "--study-name",
        study,
        "--index",
        str(index),
        "--trials",
        str(trials),
    ]
    return subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


@functools.cache
def _storage() -> optuna.storages.RDBStorage:
    """One storage (one connection pool) for the whole module: the kill test polls every 50 ms, and a
    storage per poll left a pool per poll open until PostgreSQL refused new clients on a loaded machine."""
    return make_storage(str(URL))


def _trials(study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=_storage()).get_trials(deepcopy=False)


def test_two_workers_share_a_study(colour_folder: Path, tmp_path: Path) -> None:
    study = f"share-{uuid.uuid4().hex[:8]}"
    result = RUNNER.invoke(app, _auto_args(colour_folder, tmp_path / "out", study, 6, "--workers", "2"))
    assert result.exit_code == 0, result.output
    trials = _trials(study)
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) and len(trials) >= 6
    finished = [t for t in trials if t.state.is_finished()]
    assert len(finished) >= 6
    assert {t.user_attrs.get("worker") for t in finished} == {0, 1}  # both processes trained trials
    assert "trial" in (tmp_path / "out" / "worker-1.log").read_text()


def test_killed_worker_trial_is_failed_then_retried(colour_folder: Path, tmp_path: Path) -> None:
    study = f"kill-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "out"
    # The clean head sweep only: the retry joins the queue after it, within the survivor's 8 trials.
    settings = ("--heartbeat-seconds", "1", "--grace-seconds", "3", "--dihedral-views", "1")
    first = RUNNER.invoke(app, _auto_args(colour_folder, out, study, 1, *settings))
    assert first.exit_code == 0, first.output
    doomed = _worker(study, 1, 8, tmp_path / "doomed.log")
    victim = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline:
        running = [t for t in _trials(study) if t.state == optuna.trial.TrialState.RUNNING]
        victim = next((t.number for t in running if t.user_attrs.get("worker") == 1), None)
        time.sleep(0.05)
    assert victim is not None, (tmp_path / "doomed.log").read_text()
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()

    survivor = _worker(study, 2, 8, tmp_path / "survivor.log")
    assert survivor.wait(timeout=300) == 0, (tmp_path / "survivor.log").read_text()
    trials = {t.number: t for t in _trials(study)}
    assert trials[victim].state == optuna.trial.TrialState.FAIL
    retries = [t for t in trials.values() if optuna.storages.RetryFailedTrialCallback.retried_trial_number(t) == victim]
    assert len(retries) == 1 and retries[0].params == trials[victim].params
    assert retries[0].state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    assert trials[0].state == optuna.trial.TrialState.COMPLETE and trials[0].user_attrs["rule_plan"]
    assert len(trials) == len({t.number for t in trials.values()})


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (str(URL).replace("advisor-test-pw", "wrong-password"), "password authentication failed"),
        ("postgresql://advisor:pw@127.0.0.1:1/advisor", "Connection refused"),
    ],
    ids=["wrong password", "unreachable port"],
)
def test_bad_connection_fails_fast_with_a_clear_error(url: str, message: str) -> None:
    started = time.monotonic()
    result = RUNNER.invoke(app, ["worker", "--storage", url, "--study-name", "nope"])
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert message in output and "cannot open storage" in output
    assert "wrong-password" not in output  # the password is masked
    assert time.monotonic() - started < 15


def test_worker_refuses_an_unknown_study() -> None:
    result = RUNNER.invoke(app, ["worker", "--storage", str(URL), "--study-name", "no-such-study"])
    assert result.exit_code == 2
    assert "no study named 'no-such-study'" in result.output
