"""report.html: what the page says (parsed back from the HTML), and that a real browser renders it
without errors (headless Debian Chromium, driven by playwright)."""

from __future__ import annotations

import base64
import io
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from advisor.auto.html_report import render_html, write_html
from advisor.auto.promise import PlanPromise
from advisor.auto.report import BestTrial, Report, TrialRecord
from runners import Confusion

CHROMIUM = os.environ.get("ADVISOR_TEST_CHROMIUM", "/usr/bin/chromium")


class _Tables(HTMLParser):
    """Every table of a page as rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.images: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(dict(attrs)["src"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _png(path: Path) -> Path:
    """A plot stand-in with real content: a gradient with a dark diagonal."""
    image = Image.new("RGB", (320, 200))
    image.putdata(
        [(x % 256, (x * y) % 256, 200) if abs(x - y) > 3 else (0, 0, 0) for y in range(200) for x in range(320)]
    )
    image.save(path)
    return path


def _report(tmp_path: Path) -> Report:
    trial = {"params": {"trainable_blocks": 0, "head_c": 0.1}, "curve": [{"val_accuracy": 0.8, "stage": 0}]}
    trials = [
        TrialRecord(
            number=0, state="COMPLETE", rule_plan=True, value=0.81, diagnoses=["underfitting: add epochs"], **trial
        ),
        TrialRecord(number=1, state="COMPLETE", value=0.88, **trial),
        TrialRecord(
            number=2,
            state="FAIL",
            params={"trainable_blocks": 4},
            value=None,
            error="ValueError: bad <script>alert(1)</script> input\nTraceback …",
        ),
    ]
    return Report(
        study_name="advisor",  # the default: the page is titled after the data
        storage="sqlite:///x.db",
        data=str(tmp_path / "cells"),
        modality="image",
        backbone="efficientnet_lite0",
        n_blocks=7,
        recommendation={"strategy": "feature_extraction", "trainable_fraction": 0.0, "backbone": "x", "rules": ["r1"]},
        promise=PlanPromise(
            rung=1, rung_name="head only", expected_accuracy=(0.7, 0.85), verdict="The advice held.", held=True
        ),
        best=BestTrial(number=1, value=0.88, params={"head_c": 0.1}, test_accuracy=0.86),
        baseline=trials[0],
        improvement_over_baseline=0.07,
        test_accuracy=6 / 8,
        test_confusion=Confusion(classes=["cat", "dog"], counts=[[3, 1], [1, 3]]),
        n_trials=3,
        n_complete=2,
        n_pruned=0,
        n_failed=1,
        elapsed_seconds=175.0,
        budget_minutes=3,
        out_dir=str(tmp_path),
        model_dir=str(tmp_path / "model"),
        notes=["Similarity measured as 'similar'."],
        trials=trials,
    )


def test_the_page_holds_the_outcome_the_confusion_matrix_and_every_trial(tmp_path: Path) -> None:
    plot = _png(tmp_path / "learning_curves.png")
    page = render_html(_report(tmp_path), [plot, tmp_path / "param_importances.png"])  # the second was not written
    parsed = _Tables()
    parsed.feed(page)
    assert "<title>advisor auto: cells</title>" in page
    confusion, per_class, trials = parsed.tables
    assert confusion == [["true ↓ · predicted →", "cat", "dog"], ["cat", "3", "1"], ["dog", "1", "3"]]
    assert per_class == [["class", "examples", "accuracy"], ["cat", "4", "0.750"], ["dog", "4", "0.750"]]
    assert "accuracy <strong>0.7500</strong>" in page  # 6 of 8 on the diagonal
    assert [row[0] for row in trials[1:]] == ["0", "1", "2"]
    assert trials[1][1] == "complete (rule plan)" and trials[1][-1] == "underfitting: add epochs"
    # An error's first line is shown as text: nothing a message carries becomes markup.
    assert trials[3][-1] == "ValueError: bad <script>alert(1)</script> input"
    assert "<script>" not in page
    # Plots are embedded, byte for byte; a plot that was not written is left out.
    assert len(parsed.images) == 1
    assert base64.b64decode(parsed.images[0].split(",", 1)[1]) == plot.read_bytes()
    assert "Similarity measured as &#x27;similar&#x27;." in page


def _browser_ready() -> str | None:
    """Why the browser test cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (the dev extra)"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (bash .ci/chromium.sh installs Debian's)"
    return None


def test_each_ensemble_member_is_listed_with_its_own_test_accuracy(tmp_path: Path) -> None:
    """The export's test pass scores every member by name (`Confusion.members`); the outcome lines
    list each member's, and a single model's stays the export's own."""
    from advisor.auto.finish import EnsembleMember
    from advisor.auto.publish import with_test_accuracy
    from advisor.auto.report import outcome_lines

    members = [
        EnsembleMember(name="trial_0001", trial=1, weight=0.6, refit=True),
        EnsembleMember(name="tfidf", weight=0.4),
    ]
    truth = ["cat", "cat", "dog", "dog"]
    score = Confusion.of(truth, ["cat", "cat", "dog", "cat"]).model_copy(
        update={
            "members": {
                "trial_0001": Confusion.of(truth, ["cat", "cat", "dog", "cat"]),  # 3 of 4
                "tfidf": Confusion.of(truth, ["dog", "cat", "cat", "cat"]),  # 1 of 4
            }
        }
    )
    listed = with_test_accuracy(members, score)
    assert [m.test_accuracy for m in listed] == [0.75, 0.25]
    lines = outcome_lines(_report(tmp_path).model_copy(update={"ensemble": listed}))
    assert (
        "Exported model: ensemble of 2: trial_0001 (weight 0.60, refit on train + validation, test 0.7500), "
        "tfidf (weight 0.40, test 0.2500)." in lines
    )
    single = Confusion.of(truth, ["cat", "cat", "dog", "cat"])
    assert with_test_accuracy(members[:1], single) == members[:1]  # no members scored: nothing added


def test_the_page_renders_in_headless_chromium_without_errors(tmp_path: Path) -> None:
    missing = _browser_ready()
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true needs the browser test: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    path = tmp_path / "report.html"
    write_html(_report(tmp_path), [_png(tmp_path / "learning_curves.png")], path)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            # The flags that keep Chromium off the closed network and working as root in a container.
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(path.as_uri())
            title = page.title()
            images_loaded = page.evaluate(
                "Array.from(document.images).every(i => i.complete && i.naturalWidth === 320)"
            )
            shot = page.screenshot(full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert title == "advisor auto: cells" and images_loaded
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 100  # text, tables and the plot: not a blank page
    background = max(colours)[0] / (image.width * image.height)
    assert background < 0.95
