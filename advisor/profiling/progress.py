"""How long steps report as they go: `(stage, done, total)` calls (profiling and a search's set-up),
and the runners' `(done, total)` callbacks made from one for a named stage."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]


def staged(progress: Progress | None, stage: str) -> Callable[[int, int], None] | None:
    """The runners' `(done, total)` callback that reports as `stage`; None when nobody listens."""
    if progress is None:
        return None
    return lambda done, total: progress(stage, done, total)
