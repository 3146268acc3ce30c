"""Conditions as data: a field, an operator and a value, evaluated by table lookup (never `eval`).

Rules in `rules/*.yaml` say *when* they fire with these. A condition is written as
``{field: examples_per_class, op: lt, value: 500}``; a list of them means all must hold.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

Op = Literal["lt", "le", "gt", "ge", "eq", "ne", "in", "not_in", "between"]

# "between" is half-open, [low, high), so that adjacent bands never both match a boundary value.
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "eq": operator.eq,
    "ne": operator.ne,
    "in": lambda actual, allowed: actual in allowed,
    "not_in": lambda actual, allowed: actual not in allowed,
    "between": lambda actual, bounds: bounds[0] <= actual < bounds[1],
}


class Condition(BaseModel):
    """One test on one field of the evaluation context."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    op: Op
    value: Any

    @model_validator(mode="after")
    def _value_fits_operator(self) -> Condition:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"operator {self.op!r} needs a list value, got {self.value!r}")
        if self.op == "between":
            bounds = self.value
            if not (isinstance(bounds, list) and len(bounds) == 2):
                raise ValueError(f"operator 'between' needs [low, high], got {bounds!r}")
            if not all(isinstance(b, (int, float)) for b in bounds) or bounds[0] >= bounds[1]:
                raise ValueError(f"operator 'between' needs numbers with low < high, got {bounds!r}")
        return self

    def holds(self, context: Mapping[str, Any]) -> bool:
        """Whether the condition is true for `context`; a missing or null field never matches."""
        actual = context.get(self.field)
        if actual is None:
            return False
        try:
            return bool(_OPERATORS[self.op](actual, self.value))
        except TypeError:
            return False


def all_hold(conditions: Sequence[Condition], context: Mapping[str, Any]) -> bool:
    """True when every condition holds; an empty list is a catch-all and always holds."""
    return all(c.holds(context) for c in conditions)


def unknown_fields(conditions: Sequence[Condition], known: set[str]) -> list[str]:
    """Fields the conditions name that the evaluation context will never have."""
    return sorted({c.field for c in conditions} - known)
