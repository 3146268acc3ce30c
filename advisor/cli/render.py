"""Readable, coloured terminal rendering of a `Recommendation` (the non-`--json` output)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from advisor.engine.rulebook import Ladder
from advisor.recommendation import Recommendation, Stage


def _lr(value: float | None) -> str:
    return "frozen" if value is None else f"{value:.0e}"


def _ladder(rung: int, ladder: Ladder) -> Text:
    text = Text()
    rungs = sorted(ladder.rungs, key=lambda r: r.rung)
    for step in rungs:
        style = "bold black on green" if step.rung == rung else "dim"
        text.append(f" {step.rung} {step.name} ", style=style)
        if step is not rungs[-1]:
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


def render_recommendation(rec: Recommendation, console: Console, ladder: Ladder) -> None:
    """Print the recommendation: strategy on the ladder (of the rule book that made it), backbone, stages,
    warnings, reasons."""
    headline = Text.assemble(
        (ladder.strategies[rec.strategy], "bold green"),
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
    console.print(
        Panel(Group(headline, _ladder(rec.rung, ladder), facts, backbone), title="Recommendation", expand=False)
    )

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
        lines.append(
            f"Best trial {report.best.number}: {report.best.selection} accuracy {report.best.value:.4f}",
            style="bold green",
        )
        if report.test_accuracy is not None:  # the export's, as report.md says: it may be a refit, or an ensemble
            lines.append(f"; the exported model's test accuracy {report.test_accuracy:.4f}", style="bold green")
        lines.append("\n")
        if report.baseline is not None and report.baseline.value is not None:
            lines.append(
                f"Rule plan (trial {report.baseline.number}): {report.baseline.value:.4f} "
                f"→ improvement {report.improvement_over_baseline:+.4f}\n"
            )
    from advisor.auto.promise import promise_lines
    from advisor.auto.report import outcome_lines, trial_counts

    lines.append(f"{trial_counts(report)} in {report.elapsed_seconds:.0f} s\n")

    promise = report.promise
    for line in promise_lines(promise):
        lines.append(f"{line}\n", style="bold yellow" if promise is not None and promise.held is False else "")
    for line in outcome_lines(report):
        lines.append(f"{line}\n")
    for note in report.notes:
        lines.append(f"⚠ {note}\n", style="yellow")
    lines.append(f"Report: {out / 'report.html'} (also report.md, report.json)  ·  model: {report.model_dir or '—'}")
    if report.interrupted:
        lines.append("\nInterrupted: run the same command again to resume.", style="bold yellow")
    console.print(Panel(lines, title="advisor auto", expand=False))


def _triple(values: tuple[int, ...]) -> str:
    return " / ".join(f"{v:,}" for v in values)


def render_profile(report: Any, console: Console) -> None:
    """Print a `ProfileReport`: counts, problems, image/text statistics, similarity and backbone fit."""
    profile, ev = report.profile, report.evidence
    head = Text.assemble(
        (f"{profile.n_examples:,} {profile.modality} examples", "bold"),
        f" in {profile.n_classes} classes  ·  imbalance {ev.imbalance_ratio:.1f}:1  ·  profiled in {ev.seconds:.1f} s",
    )
    if ev.presplit:
        head.append("\npre-split: " + ", ".join(f"{k} {v:,}" for k, v in ev.presplit.items()))
    counts = Table(title="Classes", title_justify="left")
    counts.add_column("class")
    counts.add_column("examples", justify="right")
    for name, n in ev.per_class.items():
        counts.add_row(name, f"{n:,}")
    console.print(Panel(head, title=f"Profile of {ev.source}", expand=False))
    console.print(counts)
    _render_stats(ev, console)
    _render_problems(ev, console)
    _render_similarity(ev, console)
    for note in ev.notes:
        console.print(f"⚠ {note}", style="yellow", highlight=False)
    for finding in ev.findings:
        console.print(Text.assemble(("⚠ ", "bold yellow"), finding.reason, (f"  [{finding.section}]", "dim")))


def _render_stats(ev: Any, console: Console) -> None:
    if ev.images is not None:
        im = ev.images
        console.print(
            f"Images: width {_triple(im.width)}, height {_triple(im.height)} (min / median / max px); "
            f"modes {dict(im.modes)}; grayscale {im.grayscale_share:.0%}",
            highlight=False,
        )
    if ev.text is not None:
        tx = ev.text
        model_max = (
            f"; {tx.truncation_rate_at_model_max:.1%} exceed the model's {tx.model_max_length}"
            if tx.model_max_length is not None and tx.truncation_rate_at_model_max is not None
            else ""
        )
        console.print(
            f"Text ({tx.tokenizer}): words {_triple(tx.words)}; tokens min/median/p95/max {_triple(tx.tokens)}; "
            f"{tx.truncation_rate:.1%} truncated at {tx.max_length}{model_max}; "
            f"{tx.fragmentation:.2f} pieces per word, {tx.unk_rate:.2%} unknown; {tx.language_hint}",
            highlight=False,
        )


def _render_problems(ev: Any, console: Console) -> None:
    dup = ev.duplicates
    layout = f"Empty class folders: {len(ev.layout_problems)}  ·  " if ev.layout_problems else ""
    console.print(
        f"{layout}Corrupted/unreadable: {len(ev.corrupted)}  ·  duplicate groups: {dup.n_groups} "
        f"({dup.n_extra_copies} extra copies, {dup.n_leaked_groups} across splits, {dup.n_label_conflicts} label conflicts)",
        highlight=False,
    )
    near = ev.near_duplicates
    if near is not None and near.n_groups:
        console.print(
            f"Near duplicates (same difference hash, different files): {near.n_groups} groups, "
            f"{near.n_leaked_groups} across splits, {near.n_label_conflicts} label conflicts",
            highlight=False,
        )
    for problem in [*ev.layout_problems, *ev.corrupted][:20]:
        console.print(f"  ✗ {problem.path}: {problem.reason}", style="red", highlight=False)
    for group in dup.groups[:10]:
        tags = []
        if len(group.splits) > 1:
            tags.append("LEAK " + "/".join(group.splits))
        if len(group.labels) > 1:
            tags.append("labels " + "/".join(group.labels))
        console.print(f"  = {', '.join(group.ids[:4])}{' …' if len(group.ids) > 4 else ''}  {' '.join(tags)}")


def _render_similarity(ev: Any, console: Console) -> None:
    sim = ev.similarity
    if sim is not None:
        table = Table(title=f"Measured similarity: {sim.level}", title_justify="left")
        table.add_column("evidence")
        table.add_column("value", justify="right")
        rows = [
            ("backbone", sim.backbone),
            ("examples measured", str(sim.n_measured)),
            ("BatchNorm drift (all / bottom / top)", _drift(sim)),
            ("shift", sim.shift or "—"),
            ("per-block drift", " ".join("—" if d is None else f"{d:.2f}" for d in sim.block_drift or ())),
            ("frozen-feature probe", _pct(sim.probe_accuracy)),
            (f"raw baseline ({sim.raw_baseline})", _pct(sim.raw_probe_accuracy)),
            (
                "pieces per word / unknown",
                "—" if sim.fragmentation is None else f"{sim.fragmentation:.2f} / {sim.unk_rate:.2%}",
            ),
        ]
        for name, value in rows:
            if value not in ("—", ""):
                table.add_row(name, value)
        console.print(table)
        console.print(
            Text.assemble(
                ("→ ", "bold"), (sim.rule.rule, "cyan"), f": {sim.rule.reason}", (f"  [{sim.rule.section}]", "dim")
            )
        )
    if ev.backbones:
        fit = Table(title="Backbone fit (LogME, higher is better)", title_justify="left")
        for column in ("backbone", "params (M)", "LogME", "probe acc", "seconds"):
            fit.add_column(column)
        for score in sorted(ev.backbones, key=lambda s: -s.logme):
            mark = " ✓" if sim is not None and score.backbone == sim.backbone else ""
            fit.add_row(
                score.backbone + mark,
                f"{score.params_millions:g}",
                f"{score.logme:+.3f}",
                _pct(score.probe_accuracy),
                f"{score.seconds:.1f}",
            )
        console.print(fit)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _drift(sim: Any) -> str:
    if sim.drift is None:
        return "—"
    return f"{sim.drift:.2f} / {sim.low_drift:.2f} / {sim.top_drift:.2f}"
