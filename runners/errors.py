"""Exception types raised by the runners layer, so callers can tell user errors from bugs."""


class RunnerError(Exception):
    """Base class of every error raised deliberately by `runners`."""


class DataError(RunnerError, ValueError):
    """The dataset cannot be used as given (empty class, missing column, bad encoding...)."""


class BackboneError(RunnerError, ValueError):
    """A backbone cannot be built, loaded or split into blocks."""
