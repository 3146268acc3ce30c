"""Ctrl-C on a real `advisor auto`: exit status 130 and a report; the same command again resumes the study.

Runs the installed command in a subprocess on a tiny image folder with a random-weight ResNet-18
(no download), so the signal reaches a process that is really training.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

TRIAL_STARTED = re.compile(r"^trial (\d+) ")


def _colour_folder(root: Path, per_class: int = 8) -> Path:
    """Noisy 40-pixel images whose dominant colour channel is the class (3 classes)."""
    rng = np.random.default_rng(0)
    for c in range(3):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            a = rng.integers(0, 80, (40, 40, 3), dtype=np.uint8)
            a[..., c] += 150
            Image.fromarray(a).save(root / f"class{c}" / f"{i}.png")
    return root


def _start(data: Path, out: Path) -> tuple[subprocess.Popen[str], queue.Queue[str | None]]:
    command = [
        sys.executable,
        "-X",
        "faulthandler",  # a hung run is aborted with SIGABRT: its threads' stacks go to the output
        "-m",
        "advisor",
        "auto",
        str(data),
        "--out",
        str(out),
        "--backbone",
        "resnet18",
        "--weights",
        "none",
        "--similarity",
        "similar",
        "--device",
        "cpu",
        "--trials",
        "5",
        "--budget-minutes",
        "3",
        "--max-epochs-per-stage",
        "1",
        "--no-refit",
        "--no-ensemble",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=out.parent,
        # A shell that started these tests in the background may ignore SIGINT; Python only turns
        # SIGINT into KeyboardInterrupt when it is not ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return process, lines


def _drain(lines: queue.Queue[str | None], until: re.Pattern[str] | None, timeout: float) -> list[str]:
    """Lines up to and including the first that matches `until` (None: all of them, to the end)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            return seen
        seen.append(line)
        if until is not None and until.search(line):
            return seen
    raise AssertionError(f"timed out after {timeout} s; output so far:\n{''.join(seen)}")


def _wait(process: subprocess.Popen[str], lines: queue.Queue[str | None], timeout: float) -> tuple[int, str]:
    """Exit status and output of a run; a run still going after `timeout` is aborted with its stacks shown."""
    try:
        status = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        process.wait(timeout=30)
        raise AssertionError("".join(_drain(lines, None, timeout=30))) from None
    return status, "".join(_drain(lines, None, timeout=30))


def _started(output: list[str]) -> list[int]:
    return [int(m.group(1)) for line in output if (m := TRIAL_STARTED.match(line))]


def test_ctrl_c_exits_130_with_a_report_and_the_rerun_resumes(tmp_path: Path) -> None:
    data = _colour_folder(tmp_path / "data")
    out = tmp_path / "out"

    process, lines = _start(data, out)
    try:
        # Trial 2 has started, so trials 0 and 1 are finished: interrupt the one in flight.
        before = _drain(lines, re.compile(r"^trial 2 "), timeout=240)
        process.send_signal(signal.SIGINT)
        status, after = _wait(process, lines, timeout=120)
    finally:
        process.kill()  # no-op when it has exited
    assert status == 130, "".join(before) + after
    first = json.loads((out / "report.json").read_text())
    assert first["interrupted"] is True
    assert "interrupted, run the same command again to resume" in (out / "report.md").read_text()
    finished = {t["number"]: t for t in first["trials"] if t["state"] in ("COMPLETE", "PRUNED", "FAIL")}
    complete = [n for n, t in finished.items() if t["state"] == "COMPLETE"]
    assert {0, 1} <= set(complete) and first["n_trials"] < 5
    assert first["best"] is not None and (out / "model").is_dir()  # the searched model was exported

    process, lines = _start(data, out)
    try:
        status, rerun = _wait(process, lines, timeout=240)
        assert status == 0, rerun
    finally:
        process.kill()
    second = json.loads((out / "report.json").read_text())
    # The study resumed from study.db: no finished trial ran again, only the missing ones.
    started = _started(rerun.splitlines())
    assert started and not set(started) & set(finished), (started, sorted(finished))
    assert second["n_trials"] == 5 and not second["interrupted"]
    again = {t["number"]: t for t in second["trials"]}
    for number in complete:
        kept, before_ = again[number], finished[number]
        assert (kept["state"], kept["value"], kept["params"], kept["curve"]) == (
            "COMPLETE",
            before_["value"],
            before_["params"],
            before_["curve"],
        )
    assert second["elapsed_seconds"] > first["elapsed_seconds"]


def test_ctrl_c_outside_the_trials_exits_130_and_says_how_to_resume(monkeypatch, tmp_path: Path) -> None:
    """Ctrl-C while the search sets up or finishes (after the trials) leaves no report: the CLI says so."""
    from typer.testing import CliRunner

    import advisor.auto.search
    from advisor.cli.main import app

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(advisor.auto.search, "run_search", interrupted)
    data = _colour_folder(tmp_path / "data", per_class=3)
    result = CliRunner().invoke(app, ["auto", str(data), "--out", str(tmp_path / "out")])
    assert result.exit_code == 130
    assert "the trials finished so far are kept in the study; run the same command again" in " ".join(
        result.output.split()
    )


def test_ctrl_c_during_a_trials_only_workers_set_up_says_who_reports(monkeypatch, tmp_path: Path) -> None:
    """A worker started with --no-finish writes no report whether or not it is interrupted, so it
    does not tell the user to rerun it for one: the run that started the study reports."""
    from typer.testing import CliRunner

    import advisor.auto.search
    import advisor.auto.workers
    from advisor.cli.main import app

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(advisor.auto.workers, "stored_config", lambda *args, **kwargs: None)
    monkeypatch.setattr(advisor.auto.search, "join_trials", interrupted)
    result = CliRunner().invoke(app, ["worker", "--storage", "sqlite:///unused.db", "--index", "2", "--no-finish"])
    assert result.exit_code == 130
    said = " ".join(result.output.split())
    assert "worker 2: interrupted; the trials finished so far are kept in the study" in said
    assert "report was written" not in said and "run the same command again" not in said
