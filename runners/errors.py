"""Exception types raised by the runners layer, so callers can tell user errors from bugs."""


class RunnerError(Exception):
    """Base class of every error raised deliberately by `runners`."""


class DataError(RunnerError, ValueError):
    """The dataset cannot be used as given (empty class, missing column, bad encoding...)."""


class BackboneError(RunnerError, ValueError):
    """A backbone cannot be built, loaded or split into blocks."""


class StopTrial(Exception):
    """Raise from a per-epoch callback to end the trial early as status "stopped" (budget, pruning).

    The best weights so far are kept and the exception is handed back as `TrialResult.stop_exception`.
    Any other exception a callback raises is a bug: the trial fails and its traceback is the error.
    """


def failure_text(exc: BaseException) -> str:
    """`TrialResult.error` of a failed trial: "Type: message" on the first line, then the traceback."""
    import traceback

    summary = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    return summary + "\n" + "".join(traceback.format_exception(exc)).rstrip()
