"""Optuna RDB storage for a study shared by several workers: heartbeats, retries, clear connection errors."""

from __future__ import annotations

import re
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
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=_engine_kwargs(url),
                heartbeat_interval=heartbeat_seconds,
                grace_period=grace_seconds,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
            )
    except (sqlalchemy.exc.SQLAlchemyError, ModuleNotFoundError, ValueError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StorageError(f"cannot open storage {redact(url)}: {reason}") from None
