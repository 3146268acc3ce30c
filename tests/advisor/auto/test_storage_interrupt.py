"""A Ctrl-C during a storage call takes effect when the call returns: its write is committed, and the
storage takes the next one (Optuna's write of the interrupted trial's state met "database is locked")."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.storages._rdb import storage as rdb_storage

from advisor.auto.storage import make_storage, storage_calls_finish_before_ctrl_c


@dataclass
class CtrlC:
    """`presses` SIGINTs, sent once `armed`, into the next storage call after its statements, before its commit."""

    armed: bool = False
    presses: int = 1


@pytest.fixture(autouse=True)
def ctrl_c_raises(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Python's own Ctrl-C handler, whatever this process inherited (a shell's background job ignores SIGINT)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.fixture
def ctrl_c_before_the_commit(monkeypatch: pytest.MonkeyPatch) -> CtrlC:
    original = rdb_storage._create_scoped_session
    ctrl_c = CtrlC()

    @contextmanager
    def interrupted(scoped_session: Any, ignore_integrity_error: bool = False) -> Iterator[Any]:
        with original(scoped_session, ignore_integrity_error) as session:
            yield session
            if ctrl_c.armed:
                ctrl_c.armed = False
                session.flush()
                for _ in range(ctrl_c.presses):
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(0.5)  # the handler runs here, in the main thread

    monkeypatch.setattr(rdb_storage, "_create_scoped_session", interrupted)
    return ctrl_c


def _study(tmp_path: Path) -> tuple[optuna.Study, str]:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    return optuna.create_study(storage=make_storage(url), study_name="s"), url


def test_a_ctrl_c_during_a_storage_write_takes_effect_after_its_commit(
    tmp_path: Path, ctrl_c_before_the_commit
) -> None:
    study, url = _study(tmp_path)
    ctrl_c_before_the_commit.armed = True
    with storage_calls_finish_before_ctrl_c():
        with pytest.raises(KeyboardInterrupt):
            study.set_user_attr("written", 1)
    # Committed, and nothing holds the database: another connection reads it and writes to it.
    other = optuna.load_study(study_name="s", storage=url)
    assert other.user_attrs == {"written": 1}
    other.set_user_attr("after", 2)


def test_without_the_guard_the_same_ctrl_c_lands_before_the_commit(tmp_path: Path, ctrl_c_before_the_commit) -> None:
    """The fixture's interrupt is real: unguarded, it ends the write before its commit."""
    study, url = _study(tmp_path)
    ctrl_c_before_the_commit.armed = True
    with pytest.raises(KeyboardInterrupt):
        study.set_user_attr("written", 1)
    assert optuna.load_study(study_name="s", storage=url).user_attrs == {}


def test_a_second_ctrl_c_during_the_same_storage_call_interrupts_at_once(
    tmp_path: Path, ctrl_c_before_the_commit
) -> None:
    """A storage call that hangs (a lost server) stays interruptible: pressed twice, Ctrl-C does not wait."""
    study, url = _study(tmp_path)
    ctrl_c_before_the_commit.armed, ctrl_c_before_the_commit.presses = True, 2
    with storage_calls_finish_before_ctrl_c():
        with pytest.raises(KeyboardInterrupt):
            study.set_user_attr("written", 1)
    assert optuna.load_study(study_name="s", storage=url).user_attrs == {}  # interrupted before its commit


def test_a_ctrl_c_outside_a_storage_call_still_interrupts_at_once_and_the_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGINT)
    with storage_calls_finish_before_ctrl_c():
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert signal.getsignal(signal.SIGINT) is before


def test_a_process_that_ignores_ctrl_c_keeps_ignoring_it() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with storage_calls_finish_before_ctrl_c():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
