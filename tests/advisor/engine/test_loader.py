"""Rules files: the packaged ones validate and are all reachable; broken ones are refused by name."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from advisor import DatasetProfile, RulesError, load_rulebook, recommend
from advisor.engine.loader import FILES, default_rules_dir
from advisor.engine.rulebook import RuleBook
from advisor.profile import Modality, Similarity, Task


def test_every_packaged_rules_file_validates(book: RuleBook) -> None:
    assert {p.name for p in default_rules_dir().glob("*.yaml")} == set(FILES)
    # The Common Mistakes table's six rows (wrong input size detected two ways), the learning-rate rule of
    # thumb (accuracy drops: divide by 10), what it means when the ÷ 10 retry drops too or the rate is
    # already too low to divide, and the progressive schedule's "stop when a stage adds < 1%".
    assert len(book.mistakes.mistakes) == 11
    assert [r.rung for r in book.ladder.rungs] == [1, 2, 3, 4, 5]


def test_every_schedule_and_rate_rule_is_reachable(book: RuleBook) -> None:
    """No dead knowledge: each schedule and LR rule (but the catch-all) is used by some decision."""
    used_schedules, used_rates = set(), set()
    sizes = [(300, 2), (1200, 4), (2000, 2), (8000, None), (20000, 2), (120000, 2)]
    for modality, task, similarity, (n, k) in itertools.product(
        get_args(Modality),
        get_args(Task),
        get_args(Similarity),
        sizes,
    ):
        if (k is None) == (task == "classification"):
            continue
        rec = recommend(DatasetProfile(modality=modality, task=task, n_examples=n, n_classes=k, similarity=similarity))
        ids = {r.rule for r in rec.rationale}
        used_schedules |= ids & {s.id for s in book.schedules.schedules}
        used_rates |= ids & {r.id for r in book.learning_rates.rules}
    assert used_schedules == {s.id for s in book.schedules.schedules}
    assert used_rates == {r.id for r in book.learning_rates.rules[:-1]}


def _edit(rules: Path, name: str, change: Callable[[Any], None]) -> None:
    path = rules / name
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _band(data: Any, cap: int, band: int) -> dict[str, Any]:
    return data["caps"][cap]["bands"][band]


BROKEN: list[tuple[str, str, Callable[[Any], None], str | None, str]] = [
    (
        "unknown key",
        "strategy.yaml",
        lambda d: _band(d, 0, 1).update(colour="red"),
        "path_b_500_to_5000_per_class",
        "Extra inputs are not permitted",
    ),
    (
        "bad operator",
        "warnings.yaml",
        lambda d: d["warnings"][0]["when"][0].update(op="approximately"),
        "too_few_per_class",
        "Input should be 'lt'",
    ),
    (
        "overlapping bands",
        "strategy.yaml",
        lambda d: _band(d, 0, 1).update(range=[400, 5000]),
        "data_per_class",
        "overlap",
    ),
    (
        "gap between bands",
        "strategy.yaml",
        lambda d: _band(d, 1, 1).update(range=[600, 5000]),
        "data_total",
        "gap between bands 'q1_under_500_total'",
    ),
    (
        "bounded last band",
        "strategy.yaml",
        lambda d: _band(d, 0, 3).update(range=[50000, 1e9]),
        "data_per_class",
        "larger values get no decision",
    ),
    (
        "band not from zero",
        "strategy.yaml",
        lambda d: _band(d, 0, 0).update(range=[10, 500]),
        "data_per_class",
        "starts at 10",
    ),
    (
        "unknown condition field",
        "zoo.yaml",
        lambda d: d["selection"][0]["when"].append({"field": "colour", "op": "eq", "value": 1}),
        "vision_mobile",
        "unknown condition field(s) ['colour']",
    ),
    (
        "similarity level missing",
        "strategy.yaml",
        lambda d: d["want"]["levels"].pop(),
        "domain_similarity",
        "['very_different'] have no rule",
    ),
    (
        "unknown zoo model",
        "zoo.yaml",
        lambda d: d["selection"][0].update(pick="alexnet"),
        None,
        "unknown model 'alexnet'",
    ),
    (
        "no catch-all backbone",
        "zoo.yaml",
        lambda d: d["selection"].pop(4),
        None,
        "no catch-all selection rule for modality 'image'",
    ),
    ("LR catch-all missing", "learning_rates.yaml", lambda d: d["rules"].pop(), None, "must have `when: []`"),
    (
        "between with wrong bounds",
        "mistakes.yaml",
        lambda d: d["mistakes"][0]["detect"].append({"field": "val_accuracy", "op": "between", "value": [0.9, 0.1]}),
        "learning_rate_too_high",
        "low < high",
    ),
    (
        "diagnosis quotes a field trials never observe",
        "mistakes.yaml",
        lambda d: d["mistakes"][0].update(diagnosis="The loss hit {loss_peak}."),
        "learning_rate_too_high",
        "quotes unknown field(s) ['loss_peak']",
    ),
    (
        "modality words for an unknown modality",
        "mistakes.yaml",
        lambda d: d["mistakes"][0].update(by_modality={"audio": {"diagnosis": "x"}}),
        "learning_rate_too_high",
        "by_modality",
    ),
    (
        "a retry that zeroes a parameter",
        "mistakes.yaml",
        lambda d: d["mistakes"][0].update(retry={"lr_backbone": 0}),
        "learning_rate_too_high",
        "retry factors must be > 0",
    ),
]


@pytest.mark.parametrize(("name", "file", "change", "rule", "problem"), BROKEN, ids=[b[0] for b in BROKEN])
def test_malformed_rules_are_refused_naming_file_rule_and_problem(
    rules_copy: Path, name: str, file: str, change: Callable[[Any], None], rule: str | None, problem: str
) -> None:
    _edit(rules_copy, file, change)
    with pytest.raises(RulesError) as caught:
        load_rulebook(rules_copy)
    error = caught.value
    assert error.file.endswith(file)
    assert problem in error.problem
    if rule is not None:
        assert error.rule == rule
        assert f"rule {rule!r}" in str(error)


def test_schedule_hole_is_found_by_coverage_check(rules_copy: Path) -> None:
    """Removing the catch-all vision schedule leaves full fine-tuning of images without a plan."""
    _edit(rules_copy, "schedules.yaml", lambda d: d["schedules"].pop())
    with pytest.raises(RulesError, match=r"schedules\.yaml: no schedule matches .*'modality': 'image'"):
        load_rulebook(rules_copy)


def test_rate_rule_without_backbone_lr_for_trainable_stage(rules_copy: Path) -> None:
    def drop_backbone_lr(data: Any) -> None:
        top = next(r for r in data["rules"] if r["id"] == "top_layers")
        top.pop("lr_backbone")
        top["lr_head"] = 1e-3

    _edit(rules_copy, "learning_rates.yaml", drop_backbone_lr)
    with pytest.raises(RulesError) as caught:
        load_rulebook(rules_copy)
    assert caught.value.rule == "top_layers" and "sets no lr_backbone" in caught.value.problem


@pytest.mark.parametrize(
    ("setup", "problem"),
    [
        (lambda d: (d / "ladder.yaml").unlink(), "missing"),
        (lambda d: (d / "zoo.yaml").write_text("models: [unclosed"), "is not valid YAML"),
        (lambda d: (d / "zoo.yaml").write_text("- a\n- list\n"), "must hold a mapping"),
    ],
    ids=["missing file", "invalid yaml", "not a mapping"],
)
def test_unreadable_files(rules_copy: Path, setup: Callable[[Path], None], problem: str) -> None:
    setup(rules_copy)
    with pytest.raises(RulesError, match=problem):
        load_rulebook(rules_copy)


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="is not a directory"):
        load_rulebook(tmp_path / "nowhere")


def test_user_rules_change_the_answer(rules_copy: Path) -> None:
    """recommend(profile, rules=DIR): a team that trusts its data more lets Path A fine-tune the top 10%."""

    def loosen(data: Any) -> None:
        _band(data, 0, 0)["max_fraction"] = 0.1
        _band(data, 1, 1)["max_fraction"] = 0.1

    _edit(rules_copy, "strategy.yaml", loosen)
    profile = DatasetProfile(modality="image", n_examples=1200, n_classes=4, similarity="similar")
    assert recommend(profile).strategy == "feature_extraction"
    custom = recommend(profile, rules=rules_copy)
    assert (custom.strategy, custom.trainable_fraction) == ("partial_fine_tune", 0.1)
