"""Errors the engine raises for people to read: each names the file, rule or field at fault."""

from __future__ import annotations

from pathlib import Path


class RulesError(ValueError):
    """A rules file is malformed or leaves some profile without a decision."""

    def __init__(self, file: Path | str, rule: str | None, problem: str) -> None:
        self.file = str(file)
        self.rule = rule
        self.problem = problem
        where = f"{self.file}: rule {rule!r}" if rule else self.file
        super().__init__(f"{where}: {problem}")
