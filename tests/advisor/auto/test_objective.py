"""The objective and search loop on scripted learning curves: pruning, budget, failures, resume."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch

from advisor.auto.config import TuneConfig
from advisor.auto.objective import _is_oom
from advisor.auto.search import SearchFailed, run_search
from advisor.auto.space import HEAD_C_SWEEP, RBF_HEAD_C, STAGE_STATISTICS_C_SWEEP
from runners import TrialSpec
from runners.errors import failure_text

from .conftest import ScriptedRunner

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _lr_curve(spec: TrialSpec) -> list[float]:
    """Accuracy rises with the head strength's closeness to C = 0.1: a landscape the sampler can learn."""
    import math

    quality = max(0.0, 1 - abs(math.log10(spec.stages[0].head_c or 1.0) + 1) / 3)
    epochs = sum(s.epochs for s in spec.stages)
    return [0.5 + 0.45 * quality * (i + 1) / epochs for i in range(epochs)]


def _search(monkeypatch: pytest.MonkeyPatch, runner: ScriptedRunner, data: Path, out: Path, **settings: Any):
    import runners

    monkeypatch.setattr(runners, "get_runner", lambda modality, **kw: runner)
    config = TuneConfig(data=data, out=out, backbone="resnet18", weights="none", **settings)
    return run_search(config)


def test_rule_plan_runs_first_and_report_has_the_contract_keys(monkeypatch, image_dir, tmp_path) -> None:
    runner = ScriptedRunner(_lr_curve)
    report = _search(monkeypatch, runner, image_dir, tmp_path / "out", trials=6, max_epochs_per_stage=3)
    first = runner.specs[0]
    # 40 examples → feature extraction: the head fitted to convergence at the measured default strength.
    assert first.stages[0].converged_head and first.stages[0].head_c == 0.01 and len(first.stages) == 1
    assert report.baseline is not None and report.baseline.number == 0 and report.baseline.rule_plan
    assert report.n_trials == 6 == report.n_complete + report.n_pruned + report.n_failed
    assert report.best is not None and report.best.value >= report.baseline.value
    assert report.improvement_over_baseline == pytest.approx(report.best.value - report.baseline.value)
    # Trials never score the test split; the winner is scored once, from its exported model.
    assert all(not spec.evaluate_test for spec in runner.specs)
    # The exported model (refit on train + validation) and the searched winner: each scored once.
    assert report.test_accuracy == pytest.approx(report.best.val_accuracy - 0.01) and runner.scored == 2
    assert [spec.train_on_val for spec in runner.refits] == [True] and report.ensemble[0].refit
    payload = (tmp_path / "out" / "report.json").read_text()
    for key in ('"best"', '"baseline"', '"test_accuracy"', '"n_pruned"', '"elapsed_seconds"', '"model_dir"', '"curve"'):
        assert key in payload
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert markdown.startswith("# advisor auto")
    # One line, and the test accuracy said to be the export's (a refit here), not the trial's.
    best = f"Best trial **{report.best.number}**: validation accuracy **{report.best.value:.4f}**"
    assert f"{best}; the exported model's held-out test accuracy **{report.test_accuracy:.4f}**.\n" in markdown
    assert "\n6 trials: " in markdown
    # The command line's panel says the same: the test accuracy is the export's, not the trial's.
    from rich.console import Console

    from advisor.cli.render import render_report

    console = Console(record=True, width=300)
    render_report(report, console, tmp_path / "out")
    panel = console.export_text()
    assert (
        f"Best trial {report.best.number}: validation accuracy {report.best.value:.4f}; "
        f"the exported model's test accuracy {report.test_accuracy:.4f}"
    ) in panel
    assert "6 trials: " in panel
    assert (tmp_path / "out" / "learning_curves.png").stat().st_size > 1000
    # The three best trials' models survive (ensemble candidates); the refit winner is OUT/model.
    assert (tmp_path / "out" / "model" / "weights.txt").read_text() == str(report.best.val_accuracy)
    kept = sorted(p.parent.name for p in (tmp_path / "out" / "trials").glob("*/model"))
    assert len(kept) == 3 and f"{report.best.number:04d}" in kept


def test_weak_trials_are_pruned(monkeypatch, image_dir, tmp_path) -> None:
    def script(spec: TrialSpec) -> list[float]:
        epochs = sum(s.epochs for s in spec.stages)
        good = (spec.stages[0].head_c or 0) > 1e-2
        return [(0.9 if good else 0.3) for _ in range(epochs)]

    report = _search(
        monkeypatch,
        ScriptedRunner(script),
        image_dir,
        tmp_path / "out",
        trials=11,  # 6 enqueued (the rule plan, the sweep on the clean images, an RBF head), then 5 sampled
        max_epochs_per_stage=4,
        pruner="median",
        dihedral_views=1,
    )
    pruned = [t for t in report.trials if t.state == "PRUNED"]
    assert report.n_pruned == len(pruned) >= 1
    assert all(t.pruned_at_epoch is not None and t.pruned_at_epoch < len(t.curve) + 1 for t in pruned)


def test_budget_stops_the_trial_in_flight_without_losing_it(monkeypatch, image_dir, tmp_path) -> None:
    """Each epoch takes 25 s on a fake clock; a 1-minute budget ends the first trial after its third epoch."""
    import runners

    now = [0.0]
    runner = ScriptedRunner(lambda spec: [0.6, 0.7, 0.8, 0.85, 0.9])
    play = runner.run

    def run(spec: TrialSpec, callback: Any = None) -> Any:
        def timed(metrics: Any) -> None:
            now[0] += 25.0
            callback(metrics)

        return play(spec, timed)

    runner.run = run  # type: ignore[method-assign]
    monkeypatch.setattr(runners, "get_runner", lambda modality, **kw: runner)
    config = TuneConfig(
        data=image_dir,
        out=tmp_path / "out",
        backbone="resnet18",
        weights="none",
        budget_minutes=1,
        max_epochs_per_stage=5,
    )
    report = run_search(config, clock=lambda: now[0])
    assert report.n_trials == 1
    (trial,) = report.trials
    assert trial.state == "COMPLETE" and trial.stopped_by_budget
    assert len(trial.curve) == 3 and trial.value == 0.8  # epochs end at 25, 50, 75 s: stopped after the third
    assert report.model_dir is not None and report.elapsed_seconds == 75.0


def test_failed_trial_is_recorded_and_the_search_goes_on(monkeypatch, image_dir, tmp_path) -> None:
    calls = {"n": 0}

    def script(spec: TrialSpec) -> list[float] | str:
        calls["n"] += 1
        return "RuntimeError: bad batch" if calls["n"] == 2 else [0.7, 0.8]

    report = _search(monkeypatch, ScriptedRunner(script), image_dir, tmp_path / "out", trials=3, max_epochs_per_stage=2)
    failed = [t for t in report.trials if t.state == "FAIL"]
    assert report.n_failed == len(failed) == 1
    assert failed[0].error == "RuntimeError: bad batch"
    assert report.n_complete + report.n_pruned == 2


def test_cuda_oom_is_retried_once_with_half_the_batch(monkeypatch, image_dir, tmp_path) -> None:
    def script(spec: TrialSpec) -> list[float] | str:
        return "OutOfMemoryError: CUDA out of memory" if spec.batch_size == 32 else [0.75]

    runner = ScriptedRunner(script)
    report = _search(monkeypatch, runner, image_dir, tmp_path / "out", trials=1, max_epochs_per_stage=1)
    assert [s.batch_size for s in runner.specs] == [32, 16]
    assert report.trials[0].state == "COMPLETE" and report.trials[0].value == 0.75


def test_second_run_resumes_without_rerunning(monkeypatch, image_dir, tmp_path) -> None:
    runner = ScriptedRunner(_lr_curve)
    out = tmp_path / "out"
    first = _search(monkeypatch, runner, image_dir, out, trials=3, max_epochs_per_stage=2)
    assert len(runner.specs) == 3
    second = _search(monkeypatch, runner, image_dir, out, trials=5, max_epochs_per_stage=2)
    assert len(runner.specs) == 5  # only the two missing trials ran
    assert [t.number for t in second.trials] == [0, 1, 2, 3, 4]
    assert [t.params for t in second.trials[:3]] == [t.params for t in first.trials]
    assert second.baseline is not None and second.baseline.number == 0
    assert second.elapsed_seconds >= first.elapsed_seconds
    # Each run scores the exported (refit) model and the searched winner; an unchanged result is not scored again.
    expected_scorings = 2 if second.best.number == first.best.number else 4
    assert runner.scored == expected_scorings


def test_interrupt_marks_the_running_trial_and_reports(monkeypatch, image_dir, tmp_path) -> None:
    def script(spec: TrialSpec) -> list[float]:
        if spec.output_dir is not None and spec.output_dir.name == "0001":
            raise KeyboardInterrupt
        return [0.7, 0.8]

    report = _search(monkeypatch, ScriptedRunner(script), image_dir, tmp_path / "out", trials=4, max_epochs_per_stage=2)
    assert report.interrupted
    assert [t.state for t in report.trials] == ["COMPLETE", "FAIL"]
    assert report.best is not None and report.best.number == 0
    assert not report.ensemble[0].refit  # interrupted: the searched model is exported, nothing retrained


def test_budget_too_small_for_one_trial_gives_the_rule_plan(monkeypatch, image_dir, tmp_path) -> None:
    """Loading the data takes 20 s on the fake clock; a 15-second budget cannot fit a trial."""
    import runners

    now = [0.0]
    runner = ScriptedRunner(lambda spec: [0.9])
    load = runner.load_data

    def slow_load(spec: TrialSpec) -> Any:
        now[0] += 20.0
        return load(spec)

    runner.load_data = slow_load  # type: ignore[method-assign]
    monkeypatch.setattr(runners, "get_runner", lambda modality, **kw: runner)
    config = TuneConfig(data=image_dir, out=tmp_path / "out", backbone="resnet18", weights="none", budget_minutes=0.25)
    report = run_search(config, clock=lambda: now[0])
    assert runner.specs == []  # nothing trained
    assert report.best is None and report.n_trials == 0 and report.model_dir is None
    assert "too small for even one trial" in report.notes[-1] and "took 20 s" in report.notes[-1]
    assert report.recommendation["strategy"] == "feature_extraction"
    assert "No trial finished within the budget" in (tmp_path / "out" / "report.md").read_text()


def _study(out: Path) -> optuna.Study:
    return optuna.load_study(study_name="advisor", storage=f"sqlite:///{out / 'study.db'}")


def test_a_bug_in_the_epoch_callback_fails_that_trial_with_its_traceback(monkeypatch, image_dir, tmp_path) -> None:
    """A crash in the progress display is not a budget stop: that trial fails, the search goes on."""
    import runners
    from advisor.auto.progress import SilentProgress

    class BrokenProgress(SilentProgress):
        def epoch(self, number: int, metrics: Any) -> None:
            if number == 1:
                raise ZeroDivisionError("progress bar width 0")

    runner = ScriptedRunner(lambda spec: [0.7, 0.8])
    monkeypatch.setattr(runners, "get_runner", lambda modality, **kw: runner)
    config = TuneConfig(
        data=image_dir, out=tmp_path / "out", backbone="resnet18", weights="none", trials=3, max_epochs_per_stage=2
    )
    report = run_search(config, events=BrokenProgress())
    assert [t.state for t in report.trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    broken = report.trials[1]
    assert broken.status == "failed" and not broken.stopped_by_budget and broken.value is None
    assert broken.error is not None
    first, *traceback = broken.error.splitlines()
    assert first == "ZeroDivisionError: progress bar width 0"
    assert traceback[0] == "Traceback (most recent call last):" and any("in epoch" in line for line in traceback)
    assert report.n_failed == 1 and report.n_complete == 2
    assert "| 1 | fail | — | 1 |" in (tmp_path / "out" / "report.md").read_text()  # the row shows the first line
    assert "ZeroDivisionError: progress bar width 0 |" in (tmp_path / "out" / "report.md").read_text()


def test_oom_retry_reports_on_from_the_last_step(monkeypatch, image_dir, tmp_path) -> None:
    """A real torch.OutOfMemoryError at epoch 2; the half-batch retry's epochs are new Optuna steps, not ignored repeats."""

    def script(spec: TrialSpec) -> list[Any]:
        if spec.batch_size == 32:
            return [0.6, 0.7, torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), 0.9]
        return [0.65, 0.75, 0.85]

    runner = ScriptedRunner(script)
    out = tmp_path / "out"
    report = _search(monkeypatch, runner, image_dir, out, trials=1, max_epochs_per_stage=1, pruner="none")
    assert [s.batch_size for s in runner.specs] == [32, 16]
    trial = _study(out).trials[0]  # the others are the head-strength sweep still waiting in the queue
    assert trial.user_attrs["oom_retry_batch_size"] == 16
    # Steps 0 and 1 came from the first attempt; the retry goes on at 2 (it used to restart at 0, and Optuna
    # kept the first attempt's values for steps 0-1 and dropped the retry's).
    assert trial.intermediate_values == {0: 0.6, 1: 0.7, 2: 0.65, 3: 0.75, 4: 0.85}
    assert report.trials[0].state == "COMPLETE" and report.trials[0].value == 0.85


@pytest.mark.parametrize(
    ("error", "oom"),
    [
        (failure_text(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")), True),
        (failure_text(torch.OutOfMemoryError("MPS backend ran out of resources")), True),  # recognised by its type
        ("OutOfMemoryError: CUDA out of memory", True),
        (failure_text(RuntimeError("bad batch")), False),
        ("RuntimeError: bad batch\nTraceback (most recent call last):\n  # retry when out of memory", False),
        (None, False),
    ],
)
def test_is_oom_reads_the_type_and_first_line(error: str | None, oom: bool) -> None:
    assert _is_oom(error) is oom


def test_the_search_stops_when_every_trial_fails_with_the_same_error(monkeypatch, image_dir, tmp_path) -> None:
    error = "BackboneError: weights file /models/w.pth does not exist"
    runner = ScriptedRunner(lambda spec: error + "\nTraceback (most recent call last):\n  ...")
    with pytest.raises(SearchFailed, match="all 3 trials failed with the same error: BackboneError: weights file"):
        _search(monkeypatch, runner, image_dir, tmp_path / "out", trials=10, max_epochs_per_stage=2)
    assert len(runner.specs) == 3
    states = [t.state.name for t in _study(tmp_path / "out").trials]
    assert states[:3] == ["FAIL"] * 3 and set(states[3:]) <= {"WAITING"}  # the rest of the queue never started


@pytest.mark.parametrize("first", ["complete", "another error"])
def test_the_search_goes_on_while_the_failures_are_not_all_alike(monkeypatch, image_dir, tmp_path, first) -> None:
    def script(spec: TrialSpec) -> list[float] | str:
        if len(runner.specs) == 1:
            return [0.7] if first == "complete" else "RuntimeError: bad batch"
        return "BackboneError: cannot build resnet18"

    runner = ScriptedRunner(script)
    report = _search(monkeypatch, runner, image_dir, tmp_path / "out", trials=5, max_epochs_per_stage=2)
    assert len(runner.specs) == 5 and report.n_trials == 5
    assert report.n_failed == (4 if first == "complete" else 5)


def test_with_dihedral_views_every_head_only_trial_and_its_refit_use_them(monkeypatch, image_dir, tmp_path) -> None:
    runner = ScriptedRunner(_lr_curve)
    report = _search(monkeypatch, runner, image_dir, tmp_path / "out", trials=6, dihedral_views=4)
    for spec in runner.specs + runner.refits:
        head_only = all(stage.converged_head for stage in spec.stages)
        assert spec.dihedral_views == (4 if head_only else 1)
    assert any(spec.dihedral_views == 4 for spec in runner.refits)
    assert any("`--dihedral-views 4`" in note and "4 right-angle rotations" in note for note in report.notes)


@pytest.mark.parametrize("gain", [0.03, -0.1])
def test_by_default_an_image_search_sweeps_the_head_on_the_images_then_on_their_rotations_then_half_turns(
    monkeypatch, image_dir, tmp_path, gain
) -> None:
    """`--dihedral-views auto`: the rule plan as it is, the head-strength sweep on the clean images,
    then again on their 4 rotations, then on the images and their half turns (cached by the rotations'
    pass); the export (refit included) predicts on the rotations only when they validated better, and
    the report says which trials ran on which views."""

    def script(spec: TrialSpec) -> list[float]:
        return [min(a + (gain if spec.dihedral_views == 4 else 0.0), 0.99) for a in _lr_curve(spec)]

    runner = ScriptedRunner(script)
    report = _search(monkeypatch, runner, image_dir, tmp_path / "out", trials=16)
    # Each sweep ends in an RBF head.
    assert [spec.dihedral_views for spec in runner.specs] == [1] * 6 + [4] * 5 + [2] * 5
    heads = [spec.stages[0].head_c for spec in runner.specs[1:] if spec.stages[0].head_kernel == "linear"]
    assert heads == [*HEAD_C_SWEEP] * 3
    exported = {spec.dihedral_views for spec in runner.refits}
    (note,) = [n for n in report.notes if "`--dihedral-views auto`" in n]
    assert "trials 11, 12, 13, 14, 15 on the image and its half turn; " in note
    assert "trials 6, 7, 8, 9, 10 on the image's 4 right-angle rotations)" in note
    (selected,) = [line for line in (tmp_path / "out" / "report.md").read_text().splitlines() if "Selected" in line]
    assert selected.count("validation accuracy") == 1  # selected on validation: its score is said once
    if gain > 0:
        assert exported == {4}
        # The verb agrees with the count: "trial 5 predicts", "trials 5, 6 predict".
        assert re.search(r"the exported model's (trial \d+ predicts|trials \d+(, \d+)+ predict) on them", note)
    else:
        assert exported == {1} and "holds none of them" in note


def test_an_image_search_fits_an_rbf_head_after_each_linear_sweep_and_exports_the_best(
    monkeypatch, image_dir, tmp_path
) -> None:
    """After the rule plan, the linear sweep on the clean images, an RBF head on them, then the same on
    the 4 rotations and on the images and their half turns; when the rotations' RBF head validates
    best, the export (refit included) is that head on those views."""

    def script(spec: TrialSpec) -> list[float]:
        bonus = 0.05 + 0.01 * (spec.dihedral_views == 4) if spec.stages[0].head_kernel == "rbf" else 0.0
        return [min(a + bonus, 0.99) for a in _lr_curve(spec)]

    runner = ScriptedRunner(script)
    _search(monkeypatch, runner, image_dir, tmp_path / "out", trials=16)
    kernels = [(spec.stages[0].head_kernel, spec.dihedral_views) for spec in runner.specs]
    assert kernels == [("linear", 1)] * 5 + [("rbf", 1)] + [("linear", 4)] * 4 + [("rbf", 4)] + [("linear", 2)] * 4 + [
        ("rbf", 2)
    ]
    for rbf in (runner.specs[5], runner.specs[10], runner.specs[15]):
        assert rbf.stages[0].head_c == RBF_HEAD_C and len(rbf.stages) == 1
    assert [(spec.stages[0].head_kernel, spec.dihedral_views) for spec in runner.refits] == [("rbf", 4)]


def test_an_image_search_on_an_efficientnet_fits_its_heads_on_the_stage_statistics_before_the_pooled_sweeps(
    monkeypatch, image_dir, tmp_path
) -> None:
    """Where the runner can tap the backbone's stages, each view count (the clean images, then the 4
    rotations, then the half turns) starts with two heads on the stages' statistics and an RBF head on
    them; the pooled linear sweeps follow all of them, so a budget that cuts the queue cuts those
    (what the exports seldom hold). When a statistics head validates best, the refit is that head."""

    def script(spec: TrialSpec) -> list[float]:
        linear = spec.stages[0].head_kernel == "linear"
        bonus = 0.05 + 0.01 * (spec.dihedral_views == 4) if spec.head_features == "stage_statistics" and linear else 0.0
        return [min(a + bonus, 0.99) for a in _lr_curve(spec)]

    runner = ScriptedRunner(script, head_features=("pooled", "stage_statistics"))
    _search(monkeypatch, runner, image_dir, tmp_path / "out", trials=22)
    heads = [(spec.head_features, spec.stages[0].head_kernel, spec.dihedral_views) for spec in runner.specs]
    linear, stats, rbf = ("pooled", "linear"), ("stage_statistics", "linear"), ("stage_statistics", "rbf")
    assert heads == [
        (*linear, 1),  # the rule plan
        *[(*stats, 1)] * 2,
        (*rbf, 1),
        *[(*stats, 4)] * 2,
        (*rbf, 4),
        *[(*stats, 2)] * 2,
        (*rbf, 2),
        *[(*linear, 1)] * 4,
        *[(*linear, 4)] * 4,
        *[(*linear, 2)] * 4,
    ]
    for first in (1, 4, 7):
        on_statistics = runner.specs[first : first + 2]
        assert [s.stages[0].head_c for s in on_statistics] == list(STAGE_STATISTICS_C_SWEEP)
        assert all(len(s.stages) == 1 for s in on_statistics)
    assert [s.stages[0].head_c for s in runner.specs[10:]] == [*HEAD_C_SWEEP] * 3
    assert [(spec.head_features, spec.dihedral_views) for spec in runner.refits] == [("stage_statistics", 4)]


def test_a_text_search_keeps_its_linear_head(tmp_path) -> None:
    (tmp_path / "texts.csv").write_text("text,label\nsome words,a\nother words,b\n")
    config = TuneConfig(data=tmp_path / "texts.csv", out=tmp_path / "out")
    assert config.data_modality == "text"
    assert config.head_kernel_choices == ("linear",)


def test_the_trial_count_agrees_in_number() -> None:
    from types import SimpleNamespace

    from advisor.auto.report import trial_counts

    one = SimpleNamespace(n_trials=1, n_complete=1, n_pruned=0, n_failed=0)
    assert trial_counts(one) == "1 trial: 1 complete, 0 pruned, 0 failed"  # type: ignore[arg-type]
    two = SimpleNamespace(n_trials=2, n_complete=1, n_pruned=0, n_failed=1)
    assert trial_counts(two) == "2 trials: 1 complete, 0 pruned, 1 failed"  # type: ignore[arg-type]
