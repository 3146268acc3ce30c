"""Load and validate a rules directory into a `RuleBook`, with errors that name file, rule and problem."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from advisor.engine import decide
from advisor.engine.rulebook import (
    Ladder,
    LearningRates,
    Mistakes,
    ProfilingRules,
    RuleBook,
    Schedules,
    StrategyRules,
    Warnings,
    Zoo,
)
from advisor.errors import RulesError
from advisor.profile import Modality, Similarity, Task

FILES: dict[str, type[BaseModel]] = {
    "strategy.yaml": StrategyRules,
    "ladder.yaml": Ladder,
    "learning_rates.yaml": LearningRates,
    "schedules.yaml": Schedules,
    "zoo.yaml": Zoo,
    "warnings.yaml": Warnings,
    "mistakes.yaml": Mistakes,
    "profiling.yaml": ProfilingRules,
}


def default_rules_dir() -> Path:
    """The rules shipped inside the installed package (the repository's `rules/`)."""
    return Path(str(resources.files("advisor._rules")))


@functools.lru_cache(maxsize=8)
def _load_cached(directory: Path) -> RuleBook:
    parsed = {name.removesuffix(".yaml"): _load_file(directory / name, model) for name, model in FILES.items()}
    book = RuleBook(source=str(directory), **parsed)
    check_coverage(book, directory)
    return book


def load_rulebook(directory: Path | str | None = None) -> RuleBook:
    """Read every rules file in `directory` (default: the packaged rules) and check them together.

    Raises:
        RulesError: a file is missing, is not YAML, fails its schema, or leaves a profile without
            a schedule or a learning rate.
    """
    path = Path(directory).resolve() if directory is not None else default_rules_dir()
    if not path.is_dir():
        raise RulesError(path, None, "is not a directory of rules files")
    return _load_cached(path)


def _load_file(path: Path, model: type[BaseModel]) -> Any:
    if not path.is_file():
        raise RulesError(path, None, f"missing; a rules directory needs {', '.join(FILES)}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RulesError(path, None, f"is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise RulesError(path, None, f"must hold a mapping at the top level, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        problem = first["msg"].removeprefix("Value error, ")
        raise RulesError(path, _rule_id_at(raw, first["loc"]), f"{location}: {problem}") from exc


def _rule_id_at(raw: Any, loc: Sequence[Any]) -> str | None:
    """The `id` (or `key`) of the innermost rule on the path to a validation error."""
    found, node = None, raw
    for part in loc:
        if isinstance(node, Mapping):
            found = node.get("id", node.get("key", found))
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            break
    if isinstance(node, Mapping):
        found = node.get("id", node.get("key", found))
    return found if isinstance(found, str) else None


def check_coverage(book: RuleBook, directory: Path) -> None:
    """Every reachable decision must get a schedule and a learning rate for each of its stages.

    The engine's trainable fraction is always one of the finitely many band caps or similarity
    wants, so the reachable decisions can be enumerated exactly.
    """
    fractions = {b.max_fraction for cap in book.strategy.caps for b in cap.bands}
    fractions |= {level.fraction for level in book.strategy.want.levels}
    outcomes = [(f, book.ladder.rung_for(f, from_scratch=False).strategy) for f in sorted(fractions)]
    outcomes.append((1.0, "from_scratch"))
    for modality, task, similarity, (fraction, strategy) in itertools.product(
        get_args(Modality),
        get_args(Task),
        get_args(Similarity),
        outcomes,
    ):
        context = {
            "modality": modality,
            "task": task,
            "similarity": similarity,
            "strategy": strategy,
            "trainable_fraction": fraction,
        }
        schedule = decide.match_schedule(book.schedules, context)
        if schedule is None:
            raise RulesError(directory / "schedules.yaml", None, f"no schedule matches {context}")
        for template in schedule.stages:
            stage_fraction = fraction if template.fraction == "target" else template.fraction
            rule = decide.match_lr_rule(book.learning_rates, {**context, "stage_fraction": stage_fraction})
            if stage_fraction > 0 and rule.lr_backbone is None:
                raise RulesError(
                    directory / "learning_rates.yaml",
                    rule.id,
                    f"matches stage {template.name!r} of schedule {schedule.id!r}, which trains "
                    f"{stage_fraction:.0%} of the backbone, but sets no lr_backbone",
                )
