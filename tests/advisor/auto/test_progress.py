"""Progress of the long steps outside the trials: the estimate's arithmetic and what is printed."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from advisor.auto.progress import StepProgress, seconds_left


def test_the_estimate_is_the_pace_so_far_times_what_is_left() -> None:
    assert seconds_left(30.0, 100, 400) == pytest.approx(90.0)  # 0.3 s each, 300 to go
    assert seconds_left(30.0, 400, 400) == 0.0
    assert seconds_left(0.0, 0, 400) is None  # nothing done yet: no pace to go by


def test_each_stage_ends_with_a_line_saying_how_far_it_got_and_how_long_it_took() -> None:
    now = [100.0]
    out = io.StringIO()
    steps = StepProgress(Console(file=out, force_terminal=False, width=200), clock=lambda: now[0])
    steps("reading cells", 0, 130)
    now[0] += 4
    steps("reading cells", 130, 130)  # done: the stage ends here, not when the next one starts
    now[0] += 7
    steps("frozen pass: lite0", 0, 96)
    now[0] += 50
    steps("frozen pass: lite0", 90, 96)
    steps("scoring", 0, 10)  # a new stage ends the one before, however far it got
    steps.close()
    steps.close()  # nothing open: nothing more printed
    assert out.getvalue().splitlines() == [
        "✓ reading cells: 130/130 in 4 s",
        "✓ frozen pass: lite0: 90/96 in 50 s",
        "✓ scoring: 0/10 in 0 s",
    ]
