"""`report.html`: the search's report as one self-contained page (plots embedded, no script, no
network), built from the same `Report` and the same sentences as `report.md`."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from advisor.auto.promise import promise_lines
from advisor.auto.report import (
    STAGE_GAINS_NOTE,
    TRIAL_COLUMNS,
    Report,
    outcome_lines,
    report_title,
    trial_cells,
    trial_counts,
)
from runners.specs import Confusion

# The plots `write_plots` writes, in the order and with the captions the page shows them.
PLOT_CAPTIONS = {
    "learning_curves.png": "Learning curves: validation accuracy per epoch, every trial (the selected one in green).",
    "optimization_history.png": "Optimisation history: each trial's score and the best so far.",
    "param_importances.png": "Parameter importances: how much each searched knob explains the score (fANOVA).",
}

_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2430; margin: 0; background: #f5f6f8; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; border-bottom: 1px solid #d8dce3; padding-bottom: 4px; }
.sub { color: #5b6575; margin: 0 0 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { background: #fff; border: 1px solid #d8dce3; border-radius: 8px; padding: 10px 16px; min-width: 170px; }
.card .k { color: #5b6575; font-size: 13px; }
.card .v { font-size: 24px; font-weight: 600; }
.held { color: #1a7f37; } .missed { color: #b42318; }
ul { padding-left: 20px; } li { margin: 3px 0; }
table { border-collapse: collapse; background: #fff; font-size: 13.5px; }
th, td { border: 1px solid #d8dce3; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef0f4; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.plan td { background: #fff8e6; }
.confusion td.n { min-width: 38px; text-align: center; }
.bar { display: inline-block; height: 10px; background: #4c78a8; vertical-align: middle; margin-right: 6px; }
figure { background: #fff; border: 1px solid #d8dce3; border-radius: 8px; margin: 0 0 16px; padding: 10px; }
figure img { max-width: 100%; display: block; }
figcaption { color: #5b6575; font-size: 13px; margin-top: 6px; }
code { background: #eef0f4; padding: 0 3px; border-radius: 3px; }
"""


def _inline(text: str) -> str:
    """The report's sentences carry Markdown's `code` and **bold**: escaped, then rendered."""
    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)


def _items(lines: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{_inline(line)}</li>" for line in lines) + "</ul>" if lines else ""


def _card(key: str, value: str, css: str = "") -> str:
    return f'<div class="card"><div class="k">{html.escape(key)}</div><div class="v {css}">{html.escape(value)}</div></div>'


def _cards(report: Report) -> str:
    cards = []
    if report.test_accuracy is not None:
        cards.append(_card("test accuracy (exported model)", f"{report.test_accuracy:.4f}"))
    if report.best is not None:
        cards.append(
            _card(f"selected trial {report.best.number} ({report.best.selection})", f"{report.best.value:.4f}")
        )
    if report.baseline is not None and report.baseline.value is not None:
        cards.append(_card(f"rule plan (trial {report.baseline.number})", f"{report.baseline.value:.4f}"))
    if report.promise is not None and report.promise.held is not None:
        held = report.promise.held
        cards.append(_card("the advice", "held" if held else "did not hold", "held" if held else "missed"))
    budget = 60 * report.budget_minutes
    cards.append(_card("time", f"{report.elapsed_seconds:.0f} s of {budget:.0f} s"))
    return '<div class="cards">' + "".join(cards) + "</div>"


def _rule_plan(report: Report) -> str:
    rec = report.recommendation
    head = (
        f"Strategy <strong>{html.escape(str(rec.get('strategy')))}</strong>, train "
        f"{float(rec.get('trainable_fraction') or 0):.0%} of the backbone; the guide's backbone "
        f"<code>{html.escape(str(rec.get('backbone')))}</code>, searched with <code>{html.escape(report.backbone)}</code> "
        f"({report.n_blocks} blocks)."
    )
    rules = rec.get("rules") or []
    fired = "<p>Rules that fired:</p>" + _items([str(rule) for rule in rules]) if rules else ""
    return f"<p>{head}</p>{fired}{_items(promise_lines(report.promise))}"


def _confusion(confusion: Confusion) -> str:
    """Rows are the true classes, columns the predicted ones; a cell is shaded by its share of its row."""
    header = "".join(f"<th>{html.escape(name)}</th>" for name in confusion.classes)
    rows = []
    support = confusion.support
    for name, row in zip(confusion.classes, confusion.counts, strict=True):
        total = support[name] or 1
        cells = []
        for j, count in enumerate(row):
            share = count / total
            colour = "76,120,168" if confusion.classes[j] == name else "180,35,24"
            text = "#fff" if share > 0.55 else "#1d2430"
            style = f"background: rgba({colour},{share:.3f}); color: {text}"
            cells.append(f'<td class="n" style="{style}">{count}</td>')
        rows.append(f"<tr><th>{html.escape(name)}</th>{''.join(cells)}</tr>")
    matrix = (
        '<table class="confusion"><tr><th>true ↓ · predicted →</th>' + header + "</tr>" + "".join(rows) + "</table>"
    )
    per_class = []
    for name, accuracy in confusion.per_class.items():
        shown = "—" if accuracy is None else f"{accuracy:.3f}"
        width = 0 if accuracy is None else round(160 * accuracy)
        per_class.append(
            f'<tr><td>{html.escape(name)}</td><td class="n">{support[name]}</td>'
            f'<td><span class="bar" style="width: {width}px"></span>{shown}</td></tr>'
        )
    accuracy_table = (
        "<table><tr><th>class</th><th>examples</th><th>accuracy</th></tr>" + "".join(per_class) + "</table>"
    )
    return (
        f"<p>The exported model on the {confusion.total} test examples no trial saw: accuracy "
        f"<strong>{confusion.accuracy:.4f}</strong>.</p>"
        f'<div class="cards"><div>{matrix}</div><div>{accuracy_table}</div></div>'
    )


def _trials(report: Report) -> str:
    header = "".join(f"<th>{html.escape(column)}</th>" for column in TRIAL_COLUMNS)
    rows = []
    for trial in report.trials:
        cells = trial_cells(trial)
        row = "".join(
            f'<td class="n">{html.escape(cell)}</td>'
            if column in ("trial", "val acc", "epochs")
            else f"<td>{_inline(cell)}</td>"
            for column, cell in zip(TRIAL_COLUMNS, cells, strict=True)
        )
        rows.append(f'<tr class="{"plan" if trial.rule_plan else ""}">{row}</tr>')
    return f'<table><tr>{header}</tr>{"".join(rows)}</table><p class="sub">{html.escape(STAGE_GAINS_NOTE)}</p>'


def _plots(plots: list[Path]) -> str:
    by_name = {plot.name: plot for plot in plots}
    figures = []
    for name, caption in PLOT_CAPTIONS.items():
        if name in by_name and by_name[name].is_file():
            data = base64.b64encode(by_name[name].read_bytes()).decode("ascii")
            figures.append(
                f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    return "".join(figures)


def render_html(report: Report, plots: list[Path]) -> str:
    """The page as a string: summary cards, outcome, rule plan, test split, trials, plots, notes."""
    title = f"advisor auto: {report_title(report)}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body><main>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="sub">Data <code>{html.escape(report.data)}</code> ({html.escape(report.modality)}), '
        f"{trial_counts(report)}"
        + (" — interrupted: run the same command again to resume." if report.interrupted else ".")
        + "</p>",
        _cards(report),
    ]
    if report.best is None:
        parts.append("<p><strong>No trial finished within the budget</strong>: follow the rule plan below.</p>")
    else:
        parts += ["<h2>Outcome</h2>", _items(outcome_lines(report))]
        if report.model_dir:
            parts.append(
                f"<p>Model: <code>{html.escape(report.model_dir)}</code> "
                f"(<code>advisor predict {html.escape(report.model_dir)} INPUT…</code>).</p>"
            )
    parts += ["<h2>Rule plan</h2>", _rule_plan(report)]
    if report.test_confusion is not None:
        parts += ["<h2>Test split</h2>", _confusion(report.test_confusion)]
    parts += ["<h2>Trials</h2>", _trials(report)]
    figures = _plots(plots)
    if figures:
        parts += ["<h2>Plots</h2>", figures]
    if report.notes:
        parts += ["<h2>Notes</h2>", _items(report.notes)]
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def write_html(report: Report, plots: list[Path], path: Path) -> None:
    path.write_text(render_html(report, plots), encoding="utf-8")
