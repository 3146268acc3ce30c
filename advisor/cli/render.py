"""Readable, coloured terminal rendering of a `Recommendation` (the non-`--json` output)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from advisor.recommendation import Recommendation, Stage

_STRATEGY_LABEL = {
    "feature_extraction": "Feature extraction (frozen backbone, train the head)",
    "partial_fine_tune": "Fine-tune the top layers",
    "full_fine_tune": "Fine-tune all layers",
    "from_scratch": "Train from scratch",
}
_RUNG_NAMES = ("Feature Extraction", "Top 20 Layers", "Top 50 Layers", "All Layers", "From Scratch")


def _lr(value: float | None) -> str:
    return "frozen" if value is None else f"{value:.0e}"


def _ladder(rung: int) -> Text:
    text = Text()
    for number, name in enumerate(_RUNG_NAMES, start=1):
        style = "bold black on green" if number == rung else "dim"
        text.append(f" {number} {name} ", style=style)
        if number < len(_RUNG_NAMES):
            text.append(" › ", style="dim")
    return text


def _stage_row(index: int, stage: Stage) -> list[str]:
    extras = []
    if stage.layerwise_span:
        extras.append(f"layer-wise ÷{stage.layerwise_span:g} top→bottom")
    if stage.warmup_ratio:
        extras.append(f"warmup {stage.warmup_ratio:.0%}")
    if stage.weight_decay:
        extras.append(f"wd {stage.weight_decay:g}")
    if stage.early_stopping_patience:
        extras.append(f"early stop {stage.early_stopping_patience}")
    return [
        str(index),
        stage.name,
        f"{stage.trainable_fraction:.0%}",
        str(stage.epochs),
        _lr(stage.lr_head),
        _lr(stage.lr_backbone),
        ", ".join(extras),
    ]


def render_recommendation(rec: Recommendation, console: Console) -> None:
    """Print the recommendation: strategy on the ladder, backbone, stages, warnings, reasons."""
    headline = Text.assemble(
        (_STRATEGY_LABEL[rec.strategy], "bold green"),
        f"  ·  train {rec.trainable_fraction:.0%} of the backbone",
    )
    facts = Text()
    if rec.expected_accuracy:
        facts.append(f"Expected accuracy {rec.expected_accuracy.low:.0%}–{rec.expected_accuracy.high:.0%}")
    if rec.time_estimate:
        facts.append(f"  ·  {rec.time_estimate}")
    backbone = Text.assemble(
        ("Backbone: ", "bold"),
        (rec.backbone.name, "bold cyan"),
        f"  ({rec.backbone.model_id}, {rec.backbone.params_millions:g}M params) — {rec.backbone.reason}",
    )
    if rec.backbone.alternatives:
        backbone.append("\nAlternatives: " + ", ".join(f"{a.name} ({a.model_id})" for a in rec.backbone.alternatives))
    console.print(Panel(Group(headline, _ladder(rec.rung), facts, backbone), title="Recommendation", expand=False))

    stages = Table(title="Schedule", title_justify="left")
    for column in ("#", "stage", "trainable", "epochs", "LR head", "LR backbone", "notes"):
        stages.add_column(column)
    for index, stage in enumerate(rec.stages, start=1):
        stages.add_row(*_stage_row(index, stage))
    console.print(stages)

    for warning in rec.warnings:
        console.print(Text.assemble(("⚠ ", "bold yellow"), warning.reason, (f"  [{warning.section}]", "dim")))
    reasons = Table(title="Why", title_justify="left", show_lines=False)
    reasons.add_column("rule", style="cyan", no_wrap=True)
    reasons.add_column("reason")
    reasons.add_column("tutorial section", style="dim")
    for fired in rec.rationale:
        reasons.add_row(fired.rule, fired.reason, fired.section)
    console.print(reasons)


def render_report(report: Any, console: Console, out: Path) -> None:
    """Summary of a finished (or interrupted) search."""
    lines = Text()
    if report.best is None:
        lines.append("No trial finished within the budget: the rule plan is the recommendation.\n", style="bold yellow")
    else:
        lines.append(f"Best trial {report.best.number}: val accuracy {report.best.value:.4f}", style="bold green")
        if report.test_accuracy is not None:
            lines.append(f", test accuracy {report.test_accuracy:.4f}", style="bold green")
        lines.append("\n")
        if report.baseline is not None and report.baseline.value is not None:
            lines.append(
                f"Rule plan (trial {report.baseline.number}): {report.baseline.value:.4f} "
                f"→ improvement {report.improvement_over_baseline:+.4f}\n"
            )
    lines.append(
        f"{report.n_trials} trials: {report.n_complete} complete, {report.n_pruned} pruned, {report.n_failed} failed "
        f"in {report.elapsed_seconds:.0f} s\n"
    )
    for note in report.notes:
        lines.append(f"⚠ {note}\n", style="yellow")
    lines.append(f"Report: {out / 'report.md'}  ·  model: {report.model_dir or '—'}")
    if report.interrupted:
        lines.append("\nInterrupted: run the same command again to resume.", style="bold yellow")
    console.print(Panel(lines, title="advisor auto", expand=False))
