"""The rule plan's promise (the ladder rung's accuracy range) against what trial 0 measured.

Rung 2 of the guide's ladder ("Summary › Mental Model: The Transfer Learning Ladder") promises
85–90%: a width of 0.05, so a plan is flagged below 0.80 or above 0.95.
"""

from __future__ import annotations

import pytest

from advisor.auto.promise import plan_promise, promise_lines
from advisor.engine.recommend import recommend
from advisor.profile import DatasetProfile

REC = recommend(DatasetProfile(modality="image", n_examples=3000, n_classes=4, smallest_class=750, largest_class=750))
CURVE = [{"stage": 0}] + [{"stage": 1}] * 6


def _promise(val: float | None, best_val: float | None = 0.91):
    return plan_promise(REC, 0, val, 95.0, CURVE if val is not None else [], 7, best_val)


def test_the_fixture_plan_is_rung_2() -> None:
    assert REC.rung == 2 and (REC.expected_accuracy.low, REC.expected_accuracy.high) == (0.85, 0.90)


@pytest.mark.parametrize(
    ("val", "held", "words"),
    [
        (0.87, True, "inside its range"),
        (0.81, True, "within the range's width"),
        (0.78, False, "0.07 below it (more than the range's width, 0.05); the searched best, trial 7, reached 0.9100"),
        (0.97, False, "0.07 above it"),
    ],
)
def test_a_plan_is_flagged_only_when_it_misses_its_range_by_more_than_the_width(val, held, words) -> None:
    promise = _promise(val)
    assert promise.held is held
    assert words in promise.verdict
    assert promise.verdict.startswith("The advice held" if held else "The advice did not hold")


def test_no_measurement_no_verdict_and_the_lines_give_time_and_epochs() -> None:
    assert _promise(None).held is None
    lines = promise_lines(_promise(0.78))
    assert lines[1] == "Time: the guide gives about 30 minutes of training for this rung (on a GPU); trial 0 took 95 s."
    assert lines[2] == "The plan asks 10 + 20 epochs; the search ran a converged head fit + 6."
