"""Several processes on one search: local worker processes, and joining a study from its stored settings."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from advisor.auto.attrs import StudyAttr
from advisor.auto.config import TuneConfig

STORAGE_ENV = "ADVISOR_STORAGE"


def start_local_workers(config: TuneConfig, minutes: float) -> list[subprocess.Popen[bytes]]:
    """Start `config.workers - 1` `advisor worker --no-finish` processes on the same storage, each with
    `minutes` of budget (what is left of the starting run's); logs go to OUT/worker-N.log.

    They run trials only and end when the starting run's trials do, which then finishes the study
    once: with their own full budget and their own finishing phase they had ended a 3-minute run
    on 400 ELPV cells 20% past its budget (two processes, 2 CPU cores), and each had refitted and
    scored the test split again. None when no time is left.

    The storage URL travels in the environment, not the command line, so a password stays out of `ps`.
    """
    processes: list[subprocess.Popen[bytes]] = []
    if minutes <= 0:
        return processes
    env = {**os.environ, STORAGE_ENV: config.storage_url}
    for index in range(1, config.workers):
        log = (config.out / f"worker-{index}.log").open("wb")
        command = [
            sys.executable,
            "-m",
            "advisor",
            "worker",
            "--study-name",
            config.study_name,
            "--index",
            str(index),
            "--budget-minutes",
            repr(minutes),
            "--no-finish",
        ]
        processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env))
    return processes


def wait_for_workers(processes: list[subprocess.Popen[bytes]], stop: bool) -> None:
    """Wait for local workers to finish their trials; on Ctrl-C, interrupt them too."""
    for process in processes:
        if stop:
            process.send_signal(signal.SIGINT)
    for process in processes:
        process.wait()


def worker_out(study_out: Path) -> Path:
    """A worker's own output folder, `STUDY_OUT/workers/<host>-<pid>`: workers sharing a file system
    never write into the same trial folder."""
    return study_out / "workers" / f"{socket.gethostname()}-{os.getpid()}"


def stored_config(storage: str, study_name: str, **overrides: Any) -> TuneConfig:
    """The settings `advisor auto` stored in the study, with this worker's storage URL and overrides.

    The worker writes under `overrides["out"]`, default `worker_out` of the study's `out`.

    Raises:
        StorageError: the storage cannot be opened.
        KeyError: no such study, or it was not created by `advisor auto`.
    """
    import optuna

    from advisor.auto.storage import make_storage

    try:
        summaries = optuna.get_all_study_summaries(make_storage(storage))
    except KeyError:
        summaries = []
    match = next((s for s in summaries if s.study_name == study_name), None)
    if match is None:
        names = sorted(s.study_name for s in summaries)
        raise KeyError(f"no study named {study_name!r} in this storage (it has: {names or 'none'})")
    stored = match.user_attrs.get(StudyAttr.CONFIG)
    if stored is None:
        raise KeyError(f"study {study_name!r} was not created by `advisor auto`: it holds no advisor settings")
    fields = {**stored, **{k: v for k, v in overrides.items() if v is not None}, "storage": storage, "workers": 1}
    if overrides.get("out") is None:
        fields["out"] = worker_out(Path(stored["out"]))
    return TuneConfig(**fields)
