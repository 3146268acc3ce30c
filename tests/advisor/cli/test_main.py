"""`advisor recommend`: JSON valid against the schema, a readable summary, exit 2 on bad arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from advisor.cli.main import app
from advisor.recommendation import Recommendation

RUNNER = CliRunner()
EXAMPLE = ["recommend", "--modality", "image", "--examples", "1200", "--classes", "4", "--similarity", "similar"]


def test_json_is_valid_against_the_schema_and_nothing_else() -> None:
    result = RUNNER.invoke(app, [*EXAMPLE, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)  # the whole of stdout is one JSON document
    jsonschema.validate(payload, Recommendation.model_json_schema())
    assert payload["strategy"] == "feature_extraction"
    assert payload["backbone"]["name"] == "ResNet-50"
    assert Recommendation.model_validate(payload).rationale[0].rule == "path_a_under_500_per_class"


def test_schema_command_prints_the_schema() -> None:
    result = RUNNER.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["title"] == "Recommendation"


def test_summary_is_readable() -> None:
    result = RUNNER.invoke(app, [*EXAMPLE[:-2], "--similarity", "different", "--examples", "20000", "--classes", "2"])
    assert result.exit_code == 0, result.output
    for text in (
        "Fine-tune the top layers",
        "train 50% of the backbone",
        "ResNet-50",
        "Schedule",
        "Why",
        "path_c_5000_to_50000_per_class",
    ):
        assert text in result.stdout


def test_summary_words_the_strategy_and_the_rungs_as_the_rule_book_does(rules_copy: Path) -> None:
    ladder = rules_copy / "ladder.yaml"
    text = ladder.read_text().replace('"Fine-tune the top layers"', '"Thaw the top"')
    ladder.write_text(text.replace('"Fine-tune Top 50 Layers"', '"Upper half"'))
    args = [*EXAMPLE[:-2], "--similarity", "different", "--examples", "20000", "--classes", "2"]
    result = RUNNER.invoke(app, [*args, "--rules", str(rules_copy)])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())
    assert "Thaw the top" in flat and "Upper half" in flat


def test_a_ladder_without_wording_for_every_strategy_is_refused(rules_copy: Path) -> None:
    ladder = rules_copy / "ladder.yaml"
    ladder.write_text(ladder.read_text().replace('  from_scratch: "Train from scratch"\n', ""))
    result = RUNNER.invoke(app, [*EXAMPLE, "--rules", str(rules_copy)])
    assert result.exit_code == 2
    assert "no wording for ['from_scratch']" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--examples", "-3"], "n_examples: Input should be greater than 0"),
        (["--classes", "1"], "at least 2 classes, got n_classes=1"),
        (["--similarity", "kinda"], "Invalid value for '--similarity'"),
        (["--examples-per-class", "7"], "does not match n_examples=1200"),
        (["--rules", "/nonexistent/rules"], "is not a directory of rules files"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(args: list[str], message: str) -> None:
    base = dict(zip(EXAMPLE[1::2], EXAMPLE[2::2], strict=True))
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["recommend", *[x for pair in base.items() for x in pair]]
    result = RUNNER.invoke(app, argv)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_broken_rules_dir_names_the_file(rules_copy: Path) -> None:
    (rules_copy / "ladder.yaml").write_text("rungs: []\n")
    result = RUNNER.invoke(app, [*EXAMPLE, "--rules", str(rules_copy)])
    assert result.exit_code == 2
    assert "ladder.yaml" in result.output and "max_fraction 1.0" in " ".join(result.output.split())


def test_installed_entry_point_runs_without_importing_torch(tmp_path: Path) -> None:
    """`advisor recommend` must not pay for importing torch; run from outside the checkout."""
    probe = (
        "import sys, runpy; sys.argv = ['advisor', *sys.argv[1:]]; "
        "from advisor.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)"
    )
    env = {**os.environ, "PYTHONPATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", probe, *EXAMPLE, "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert json.loads(done.stdout)["strategy"] == "feature_extraction"
    assert "NO-TORCH" in done.stderr


@pytest.mark.parametrize("argv", [[], ["tui"]], ids=["no arguments", "tui"])
def test_no_arguments_and_tui_open_the_questionnaire(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    import advisor.tui.app

    opened: list[bool] = []
    monkeypatch.setattr(advisor.tui.app, "run_tui", lambda: opened.append(True))
    result = RUNNER.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert opened == [True]


def test_auto_refuses_a_missing_data_path(tmp_path: Path) -> None:
    result = RUNNER.invoke(app, ["auto", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "nowhere does not exist" in " ".join(result.output.split())


def test_predict_refuses_a_missing_model(tmp_path: Path) -> None:
    result = RUNNER.invoke(app, ["predict", str(tmp_path / "model"), "x.png"])
    assert result.exit_code == 2
    assert "model: no such model folder" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("argv", "views"),
    [([], "auto"), (["--dihedral-views", "4"], 4), (["--dihedral-views", "2"], 2), (["--dihedral-views", "1"], 1)],
)
def test_auto_passes_the_dihedral_views_setting_on(monkeypatch, tmp_path: Path, argv: list[str], views) -> None:
    import advisor.auto.search
    from runners.errors import DataError

    seen: list = []

    def fake_search(config, **kw):  # noqa: ANN001, ANN003, ANN202 - stands in for the search
        seen.append(config.dihedral_views)
        raise DataError("stop here")

    monkeypatch.setattr(advisor.auto.search, "run_search", fake_search)
    (tmp_path / "images" / "a").mkdir(parents=True)
    result = RUNNER.invoke(app, ["auto", str(tmp_path / "images"), "--out", str(tmp_path / "out"), *argv])
    assert seen == [views] and "stop here" in result.output
    refused = RUNNER.invoke(
        app, ["auto", str(tmp_path / "images"), "--out", str(tmp_path / "o"), "--dihedral-views", "3"]
    )
    assert refused.exit_code == 2 and seen == [views]
