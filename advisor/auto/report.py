"""The search's report: `report.json` (pydantic), `report.md` for people, built from the Optuna study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from pydantic import BaseModel, ConfigDict, Field

from advisor.auto.attrs import TrialAttr
from advisor.auto.config import DEFAULT_STUDY_NAME
from advisor.auto.finish import EnsembleMember
from advisor.auto.promise import PlanPromise, promise_lines
from advisor.exporting import export_lines
from runners.specs import Confusion

_FROZEN = ConfigDict(frozen=True)


class TrialRecord(BaseModel):
    """One trial as the report shows it, learning curve included."""

    model_config = _FROZEN

    number: int
    state: str = Field(description="Optuna state: COMPLETE, PRUNED, FAIL, RUNNING.")
    status: str | None = Field(None, description="The runner's status: complete, diverged, stopped, failed.")
    rule_plan: bool = False
    params: dict[str, Any]
    value: float | None
    seconds: float | None = None
    pruned_at_epoch: int | None = None
    stopped_by_budget: bool = False
    skipped_by_budget: str | None = Field(None, description="Why the trial was not started (its estimated cost).")
    diagnoses: list[str] = []
    stage_gains: list[dict[str, Any]] = Field(
        default=[], description="Per stage: its best validation accuracy and what it added over the stages before."
    )
    retry_of: dict[str, Any] | None = Field(
        None, description="A variant a diagnosis asked for: the trial it retries, the mistake, the factors applied."
    )
    error: str | None = None
    curve: list[dict[str, Any]] = []
    folder: str | None = Field(
        None, description="Where the trial wrote its files (model/): under the --out of the process that ran it."
    )


class BestTrial(BaseModel):
    model_config = _FROZEN

    number: int
    value: float = Field(description="The selection score: cross-validated or validation accuracy (see `selection`).")
    params: dict[str, Any]
    test_accuracy: float | None = Field(description="This trial's own model (searched, not refit) on the test split.")
    selection: str = "validation"
    stderr: float | None = Field(None, description="Standard error of a cross-validated selection score.")
    val_accuracy: float | None = None


class Report(BaseModel):
    """What `advisor auto` hands back, also written to `OUT/report.json`."""

    model_config = _FROZEN

    study_name: str
    storage: str
    data: str
    modality: str
    backbone: str
    backbone_note: str | None = None
    n_blocks: int
    recommendation: dict[str, Any]
    promise: PlanPromise | None = Field(None, description="The rule plan's promise against what trial 0 measured.")
    best: BestTrial | None
    baseline: TrialRecord | None
    improvement_over_baseline: float | None
    test_accuracy: float | None = Field(description="The exported model (refit, ensemble) on the test split.")
    test_confusion: Confusion | None = Field(
        None, description="The exported model's confusion matrix on the test split (rows: truth; columns: predicted)."
    )
    ensemble: list[EnsembleMember] = []
    ensemble_val_accuracy: float | None = None
    prediction_seconds_per_example: float | None = None
    onnx: dict[str, Any] | None = Field(
        None, description="--priority mobile: the ONNX export (files, size_bytes, latency_ms, check on the test split)."
    )
    n_trials: int
    n_complete: int
    n_pruned: int
    n_failed: int
    elapsed_seconds: float
    phase_seconds: dict[str, float] = {}
    overshoot: float | None = Field(None, description="elapsed / budget - 1 (0.05 = 5% over).")
    budget_minutes: float
    out_dir: str
    interrupted: bool = False
    model_dir: str | None
    notes: list[str] = []
    trials: list[TrialRecord]


def trial_record(trial: optuna.trial.FrozenTrial, diagnoses: list[str] | None = None) -> TrialRecord:
    """The trial as the report shows it; `diagnoses`, when given, replace the ones stored at trial time
    (the report decides the study-wide verdicts: `advisor.auto.diagnosis.final_diagnoses`)."""
    attrs = trial.user_attrs
    return TrialRecord(
        number=trial.number,
        state=trial.state.name,
        status=attrs.get(TrialAttr.STATUS),
        rule_plan=bool(attrs.get(TrialAttr.RULE_PLAN, False)),
        params=trial.params,
        value=trial.value,
        seconds=attrs.get(TrialAttr.SECONDS),
        pruned_at_epoch=attrs.get(TrialAttr.PRUNED_AT_EPOCH),
        stopped_by_budget=bool(attrs.get(TrialAttr.STOPPED_BY_BUDGET, False)),
        skipped_by_budget=attrs.get(TrialAttr.SKIPPED_BY_BUDGET),
        diagnoses=list(attrs.get(TrialAttr.DIAGNOSES, []) if diagnoses is None else diagnoses),
        stage_gains=list(attrs.get(TrialAttr.STAGE_GAINS, [])),
        retry_of=attrs.get(TrialAttr.RETRY_OF),
        error=attrs.get(TrialAttr.ERROR)
        or (trial.system_attrs.get(TrialAttr.FAIL_REASON) if trial.state.name == "FAIL" else None),
        curve=list(attrs.get(TrialAttr.CURVE, [])),
        folder=attrs.get(TrialAttr.TRIAL_DIR),
    )


STAGE_GAINS_NOTE = (
    "Stage gains: the first stage's best validation accuracy, then what each later stage added over the best "
    "before it (the guide: each stage should add 1–5%; stop when a stage adds under 1%)."
)


def format_stage_gains(gains: list[dict[str, Any]]) -> str:
    """ "0.796 → −0.092": the first stage's best validation accuracy, then each later stage's gain."""
    parts = []
    for i, g in enumerate(gains):
        if i == 0:
            parts.append("—" if g.get("best") is None else f"{g['best']:.3f}")
        else:
            parts.append("—" if g.get("gain") is None else f"{g['gain']:+.3f}".replace("-", "−"))
    return " → ".join(parts)


def report_title(report: Report) -> str:
    """The study's name, or the data's (folder or file stem) for a study left at the default name."""
    if report.study_name != DEFAULT_STUDY_NAME:
        return report.study_name
    data = Path(report.data)
    return data.stem if data.suffix else data.name


def trial_counts(report: Report) -> str:
    """ "12 trials: 10 complete, 2 pruned, 0 failed" ("1 trial: …" for one), as every rendering of a report says it."""
    noun = "trial" if report.n_trials == 1 else "trials"
    return f"{report.n_trials} {noun}: {report.n_complete} complete, {report.n_pruned} pruned, {report.n_failed} failed"


def _retry_label(retry: dict[str, Any] | None) -> str:
    if not retry:
        return ""
    factors = ", ".join(f"{name} ×{factor:g}" for name, factor in retry.get("factors", {}).items())
    what = "the rule plan's stages, " if retry.get("rule_plan") else ""
    return f" (retry of trial {retry.get('trial')}: {what}{factors})"


def outcome_lines(report: Report) -> list[str]:
    """What was selected, what was exported, how it scored, and where the time went (terminal and Markdown)."""
    lines: list[str] = []
    best = report.best
    if best is not None:
        score = f"{best.selection} accuracy {best.value:.4f}"
        if best.stderr is not None:
            score += f" ± {best.stderr:.4f} (standard error over folds)"
        # Selected on validation, the score is the validation accuracy: not said twice.
        on_val = best.selection == "validation"
        val = f"; validation accuracy {best.val_accuracy:.4f}" if best.val_accuracy is not None and not on_val else ""
        lines.append(f"Selected trial {best.number}: {score}{val}.")
    if report.ensemble:
        members = ", ".join(
            f"{m.name} (weight {m.weight:.2f}{', refit on train + validation' if m.refit else ''}"
            f"{f', test {m.test_accuracy:.4f}' if m.test_accuracy is not None else ''})"
            for m in report.ensemble
        )
        kind = "ensemble of " + str(len(report.ensemble)) if len(report.ensemble) > 1 else "single model"
        lines.append(f"Exported model: {kind}: {members}.")
        if report.ensemble_val_accuracy is not None:
            lines.append(f"Ensemble validation accuracy: {report.ensemble_val_accuracy:.4f}.")
    if report.test_accuracy is not None:
        text = f"Held-out test accuracy: exported model {report.test_accuracy:.4f}"
        if best is not None and best.test_accuracy is not None and best.test_accuracy != report.test_accuracy:
            text += f"; the selected trial's own model (no refit, no ensemble) {best.test_accuracy:.4f}"
        lines.append(text + ".")
    if report.test_confusion is not None:
        lines.append(per_class_line(report.test_confusion))
    if report.prediction_seconds_per_example is not None:
        lines.append(
            f"Prediction cost: {1000 * report.prediction_seconds_per_example:.1f} ms per example on this machine."
        )
    if report.onnx is not None:
        lines += export_lines(report.onnx)
    if report.phase_seconds:
        phases = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in report.phase_seconds.items())
        over = f" ({report.overshoot:+.1%} against the budget)" if report.overshoot is not None else ""
        lines.append(f"Time: {phases}; {report.elapsed_seconds:.0f} s of {60 * report.budget_minutes:.0f} s{over}.")
    return lines


TRIAL_COLUMNS = ("trial", "state", "val acc", "epochs", "stage gains", "params", "diagnosis")


def trial_cells(t: TrialRecord) -> tuple[str, ...]:
    """One trial's row of the trials table (`TRIAL_COLUMNS`), as `report.md` and `report.html` show it."""
    params = ", ".join(f"{k}={v:.2g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items())
    state = t.state.lower() + (" (rule plan)" if t.rule_plan else "") + _retry_label(t.retry_of)
    value = f"{t.value:.4f}" if t.value is not None else "—"
    error = t.error.split("\n")[0] if t.error else None  # its first line; report.json has the traceback
    diagnosis = "; ".join(t.diagnoses) or error or t.skipped_by_budget or ""
    return str(t.number), state, value, str(len(t.curve)), format_stage_gains(t.stage_gains), params, diagnosis


def per_class_line(confusion: Confusion) -> str:
    """ "Per-class test accuracy: business 0.98 (102), …" with each class's number of test examples."""
    support = confusion.support
    parts = [
        f"{name} {'—' if accuracy is None else f'{accuracy:.3f}'} ({support[name]})"
        for name, accuracy in confusion.per_class.items()
    ]
    return "Per-class test accuracy (examples): " + ", ".join(parts) + "."


def write_markdown(report: Report, path: Path) -> None:
    """A short human report: outcome, baseline comparison, diagnoses, trial table."""
    lines = [f"# advisor auto: {report_title(report)}", ""]
    lines.append(f"Data `{report.data}` ({report.modality}), backbone `{report.backbone}` ({report.n_blocks} blocks).")
    if report.backbone_note:
        lines.append(f"\n> {report.backbone_note}")
    rec = report.recommendation
    lines += [
        "",
        f"Rule plan: **{rec.get('strategy')}**, train {rec.get('trainable_fraction', 0):.0%} of the backbone.",
    ]
    if report.best is None:
        lines += [
            "",
            "**No trial finished within the budget**: follow the rule plan above, or give the search more time.",
        ]
    else:
        best = f"Best trial **{report.best.number}**: {report.best.selection} accuracy **{report.best.value:.4f}**"
        if report.test_accuracy is not None:  # the export's: it may be a refit, or an ensemble
            best += f"; the exported model's held-out test accuracy **{report.test_accuracy:.4f}**."
        lines += ["", best]
        if report.baseline is not None and report.baseline.value is not None:
            lines.append(
                f"\nRule plan (trial {report.baseline.number}): {report.baseline.value:.4f}; the search improved on it by "
                f"{report.improvement_over_baseline:+.4f}."
            )
        lines.append(f"\nModel: `{report.model_dir}` (use `advisor predict {report.model_dir} INPUT…`).")
        lines += ["", *[f"- {line}" for line in promise_lines(report.promise) + outcome_lines(report)]]
    lines += [
        "",
        f"{trial_counts(report)}, in {report.elapsed_seconds:.0f} s (budget {report.budget_minutes:g} min)"
        + (" — interrupted, run the same command again to resume." if report.interrupted else "."),
    ]
    lines += [f"- {note}" for note in report.notes]
    lines += ["", "| " + " | ".join(TRIAL_COLUMNS) + " |", "|" + "---|" * len(TRIAL_COLUMNS)]
    lines += ["| " + " | ".join(trial_cells(t)) + " |" for t in report.trials]
    lines += ["", STAGE_GAINS_NOTE]
    lines += [
        "",
        "The same report as one page, plots and test confusion matrix included: `report.html`. Plots: "
        "`optimization_history.png`, `param_importances.png`, `learning_curves.png`.",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
