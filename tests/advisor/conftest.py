"""Shared fixtures for the advisor tests: the packaged rule book and a copy of it to break."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from advisor.engine.loader import default_rules_dir, load_rulebook
from advisor.engine.rulebook import RuleBook


@pytest.fixture(scope="session")
def book() -> RuleBook:
    return load_rulebook()


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    """A writable copy of the packaged rules directory."""
    target = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return target
