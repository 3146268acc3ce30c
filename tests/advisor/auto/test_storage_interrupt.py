"""A Ctrl-C during a storage call takes effect when the call returns: its write is committed, and the
storage takes the next one (Optuna's write of the interrupted trial's state met "database is locked")."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.storages._rdb import storage as rdb_storage

from advisor.auto.storage import make_storage, storage_calls_finish_before_ctrl_c


@pytest.fixture
def ctrl_c_before_the_commit(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Once armed (`armed[0] = True`), the next storage call gets a SIGINT after its statements, before
    its commit."""
    original = rdb_storage._create_scoped_session
    armed = [False]

    @contextmanager
    def interrupted(scoped_session: Any, ignore_integrity_error: bool = False) -> Iterator[Any]:
        with original(scoped_session, ignore_integrity_error) as session:
            yield session
            if armed[0]:
                armed[0] = False
                session.flush()
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1)  # the handler runs here, in the main thread

    monkeypatch.setattr(rdb_storage, "_create_scoped_session", interrupted)
    return armed


def test_a_ctrl_c_during_a_storage_write_takes_effect_after_its_commit(
    tmp_path: Path, ctrl_c_before_the_commit
) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=make_storage(url), study_name="s")
    ctrl_c_before_the_commit[0] = True
    with storage_calls_finish_before_ctrl_c():
        with pytest.raises(KeyboardInterrupt):
            study.set_user_attr("written", 1)
    # Committed, and nothing holds the database: another connection reads it and writes to it.
    other = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert other.user_attrs == {"written": 1}
    other.set_user_attr("after", 2)


def test_without_the_guard_the_same_ctrl_c_lands_before_the_commit(tmp_path: Path, ctrl_c_before_the_commit) -> None:
    """The fixture's interrupt is real: unguarded, it ends the write before its commit."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=make_storage(url), study_name="s")
    ctrl_c_before_the_commit[0] = True
    with pytest.raises(KeyboardInterrupt):
        study.set_user_attr("written", 1)
    assert optuna.load_study(study_name="s", storage=url).user_attrs == {}


def test_a_ctrl_c_outside_a_storage_call_still_interrupts_at_once_and_the_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGINT)
    with storage_calls_finish_before_ctrl_c():
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert signal.getsignal(signal.SIGINT) is before
