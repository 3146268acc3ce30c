"""The storage URL's password never reaches disk, the screen or the study: only `redact`ed URLs are shown.

The end-to-end test runs a real two-process search (a tiny randomly initialised ResNet on a tiny
image folder) on the test PostgreSQL server, whose URL holds a password, and looks for that
password in every byte written under `--out`, in everything printed, and in the study's stored
attributes.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import optuna
import pytest
import sqlalchemy
from PIL import Image

from advisor.auto.attrs import StudyAttr
from advisor.auto.storage import make_storage, redact


@pytest.mark.parametrize(
    ("url", "password", "shown"),
    [
        ("postgresql://advisor:s3cret@db:5432/advisor", "s3cret", "postgresql://advisor:***@db:5432/advisor"),
        ("postgresql+psycopg://u:p@ss:w@rd@db/x", "ss:w@rd", "postgresql+psycopg://u:***@db/x"),
        ("mysql://u:pa/ss?#x@db:3306/x", "pa/ss?#x", "mysql://u:***@db:3306/x"),
        ("postgresql://:token@db/x", "token", "postgresql://:***@db/x"),
        (
            "postgresql://u@db/x?sslmode=require&password=hunter2",
            "hunter2",
            "postgresql://u@db/x?sslmode=require&password=***",
        ),
        ("sqlite:////runs/a:b/study.db", None, "sqlite:////runs/a:b/study.db"),
    ],
    ids=["plain", "at-sign and colon", "slash and query characters", "no user", "query parameter", "sqlite path"],
)
def test_redact_masks_the_password_and_keeps_the_rest(url: str, password: str | None, shown: str) -> None:
    assert redact(url) == shown
    if password is not None:
        assert password not in redact(url)


def _colour_folder(root: Path) -> Path:
    """Three colour classes, 8 images each: enough for trials to finish, nothing to learn from."""
    rng = np.random.default_rng(0)
    for c in range(3):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(8):
            a = rng.integers(0, 80, (32, 32, 3), dtype=np.uint8)
            a[..., c] += 150
            Image.fromarray(a).save(root / f"class{c}" / f"{i}.png")
    return root


def test_a_search_on_postgresql_never_writes_or_prints_the_password(postgres_url: str, tmp_path: Path) -> None:
    from sqlalchemy.engine import make_url

    password = make_url(postgres_url).password
    assert password, "the test server's URL must hold a password for this test to mean anything"
    secret = str(password).encode()
    study_name = f"secrets-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "out"
    data = _colour_folder(tmp_path / "data")
    # The URL comes from ADVISOR_STORAGE, as it does for the local worker `--workers 2` starts beside it.
    env = {**os.environ, "ADVISOR_STORAGE": postgres_url, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    command = [sys.executable, "-m", "advisor", "auto", str(data), "--out", str(out), "--study-name", study_name]
    command += ["--trials", "2", "--workers", "2", "--backbone", "resnet18", "--weights", "none"]
    command += ["--max-epochs-per-stage", "1", "--batch-size", "16", "--budget-minutes", "5"]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, timeout=400)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()

    # Nothing printed, nothing written under --out (reports, logs, plots, models, splits, worker folders).
    assert secret not in done.stdout and secret not in done.stderr
    files = [p for p in out.rglob("*") if p.is_file()]
    leaked = [str(p.relative_to(out)) for p in files if secret in p.read_bytes()]
    assert leaked == []
    written = [str(p.relative_to(out)) for p in files]
    assert {"report.json", "report.md", "worker-1.log", "split.json"} <= set(written)  # among the files checked
    # The local worker writes its trials (if it got any of the two) in its own folder,
    # OUT/workers/<host>-<pid>, and no report: it runs trials only, and the run that started it
    # finishes the study.
    reports = sorted(name for name in written if name.endswith("report.json"))
    assert reports == ["report.json"]
    hosts = {Path(name).parts[1] for name in written if name.startswith("workers/")}
    assert len(hosts) <= 1 and all(re.fullmatch(rf"{re.escape(socket.gethostname())}-\d+", h) for h in hosts)
    assert "finished; the run that started the study refits" in (out / "worker-1.log").read_text()
    report = json.loads((out / "report.json").read_text())
    assert report["storage"] == redact(postgres_url) and "***" in report["storage"]

    # Nor is it stored with the study: no row of any table (study and trial attributes, user and
    # system) holds it, and the stored settings leave the storage out altogether.
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        tables = sqlalchemy.MetaData()
        tables.reflect(engine)
        with engine.connect() as connection:
            rows = {t.name: connection.execute(sqlalchemy.select(t)).all() for t in tables.sorted_tables}
    finally:
        engine.dispose()
    assert {"study_user_attributes", "study_system_attributes", "trial_user_attributes"} <= rows.keys()
    assert len(rows["trial_user_attributes"]) > 0
    assert [name for name, content in rows.items() if secret.decode() in repr(content)] == []
    study = optuna.load_study(study_name=study_name, storage=make_storage(postgres_url))
    assert "storage" not in study.user_attrs[StudyAttr.CONFIG]

    # The report lists where each trial wrote its files: the folder of the process that ran it.
    own = {0: out.resolve()}
    if hosts:  # the worker ran one of the two trials
        own[1] = (out / "workers" / hosts.pop()).resolve()
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    for record in report["trials"]:
        trial = trials[record["number"]]
        assert record["folder"] == str(own[trial.user_attrs["worker"]] / "trials" / f"{trial.number:04d}")
    assert len(report["trials"]) >= 2
