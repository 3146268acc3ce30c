"""Optuna RDB storage for a study shared by several workers: heartbeats, retries, clear connection errors."""

from __future__ import annotations

import functools
import inspect
import re
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import optuna

from advisor.auto.config import GRACE_SECONDS, HEARTBEAT_SECONDS

CONNECT_TIMEOUT_SECONDS = 5


class StorageError(RuntimeError):
    """The storage URL cannot be opened; the message names it (password masked) and why."""


# user:password@ before the host, masked up to the last "@" (a password may hold "/", "?" or "#"; masking
# too much beats showing part of it), and a password given as a query parameter (passed on to the driver).
_NETLOC_PASSWORD = re.compile(r"^(?P<head>[^:/?#]+://[^:/?#@]*:).*@")
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&](?:password|passwd)=)[^&#]*", re.IGNORECASE)


def redact(url: str) -> str:
    """The URL with any password replaced by ***: the one way a storage URL is shown or written."""
    return _QUERY_PASSWORD.sub(r"\g<head>***", _NETLOC_PASSWORD.sub(r"\g<head>***@", url))


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Several local processes may share the file: wait on its lock instead of failing at once.
        return {"connect_args": {"timeout": 60}}
    if url.startswith(("postgresql", "postgres")):
        # Fail within seconds on a wrong host or port instead of hanging on TCP retries.
        return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_SECONDS}, "pool_pre_ping": True}
    if url.startswith("mysql"):
        return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_SECONDS}, "pool_pre_ping": True}
    return {}


class _HeldInterrupt:
    """Storage calls the main thread is inside, and whether a Ctrl-C came during them."""

    depth = 0
    pending = False


def _finishing_before_ctrl_c(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():  # the heartbeat's thread
            return method(self, *args, **kwargs)
        _HeldInterrupt.depth += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            _HeldInterrupt.depth -= 1
            if _HeldInterrupt.depth == 0 and _HeldInterrupt.pending:
                _HeldInterrupt.pending = False
                raise KeyboardInterrupt

    return call


class _AtomicRDBStorage(optuna.storages.RDBStorage):
    """An RDBStorage whose every call from the main thread finishes before a Ctrl-C takes effect, under
    `storage_calls_finish_before_ctrl_c`. A KeyboardInterrupt raised inside a call, between a write and
    its commit, can leave the transaction open: Optuna's write of the interrupted trial's state then
    met "database is locked" (SQLite), and the run exited 1 with no report instead of 130 with one
    (tests/advisor/cli/test_interrupt.py, once in a clean-clone CI run; the Ctrl-C came as trial 2
    began, while it wrote its attributes)."""


def _wrap_public_calls(cls: type) -> None:
    for name, method in inspect.getmembers(optuna.storages.RDBStorage, inspect.isfunction):
        if not name.startswith("_"):
            setattr(cls, name, _finishing_before_ctrl_c(method))


_wrap_public_calls(_AtomicRDBStorage)


@contextmanager
def storage_calls_finish_before_ctrl_c() -> Iterator[None]:
    """Within it, a Ctrl-C (SIGINT) that comes while the main thread is inside a call to a storage from
    `make_storage` takes effect, as a KeyboardInterrupt, when that call returns; elsewhere at once, as
    before. A second Ctrl-C before the call returns interrupts at once (a storage call that hangs, on
    a lost server, stays interruptible). Off the main thread (no signal handler can be set there) it
    changes nothing."""
    previous = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    if previous is None or previous == signal.SIG_IGN:  # a process that ignores Ctrl-C (started in the background)
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if _HeldInterrupt.depth and not _HeldInterrupt.pending:
            _HeldInterrupt.pending = True
            return
        _HeldInterrupt.pending = False
        if callable(previous):
            previous(signum, frame)
        else:
            signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def make_storage(
    url: str, heartbeat_seconds: int = HEARTBEAT_SECONDS, grace_seconds: int = GRACE_SECONDS
) -> optuna.storages.RDBStorage:
    """Open (and create the tables of) the storage at `url`, with heartbeats and one retry of failed trials.

    Raises:
        StorageError: the server is unreachable, refuses the credentials, or the URL is malformed.
    """
    import warnings

    import sqlalchemy.exc

    try:
        with warnings.catch_warnings():
            # Heartbeats are marked experimental in Optuna 4/5; they are what makes workers safe to kill.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return _AtomicRDBStorage(
                url,
                engine_kwargs=_engine_kwargs(url),
                heartbeat_interval=heartbeat_seconds,
                grace_period=grace_seconds,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
            )
    except (sqlalchemy.exc.SQLAlchemyError, ModuleNotFoundError, ValueError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StorageError(f"cannot open storage {redact(url)}: {reason}") from None
