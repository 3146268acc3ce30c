"""`advisor export`: a trained model folder in a form other runtimes load (ONNX), checked and measured.

The work is `runners.onnx_export`; this module turns the person's arguments into its inputs and
its answer into lines for the terminal and the search report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

ExportFormat = Literal["onnx"]
INSTALL_HINT = "install the ONNX tools with: pip install 'advisor[onnx]'"


class ExportError(ValueError):
    """The model folder, an input or the output folder cannot be used; the message names it."""


def export_model(
    model_dir: Path,
    fmt: ExportFormat = "onnx",
    out: Path | None = None,
    inputs: list[str] | None = None,
    checked_on: str | None = None,
    text_column: str = "text",
    label_column: str = "label",
    payloads: list[Any] | None = None,
) -> dict[str, Any]:
    """Export `model_dir` to `fmt` (default folder `model_dir/onnx`) and check it against `advisor predict`.

    Args:
        inputs: What to check on, as `advisor predict` takes it (files, folders, tables, texts).
        payloads: Or the examples themselves (a search's test split); neither: made-up examples.
        checked_on: How the report names the examples (default: from where they came).

    Returns:
        `runners.onnx_export.OnnxExport.as_dict()` plus `checked_on`.

    Raises:
        ExportError: unknown format, not a model folder, a TF-IDF model, a bad input or output folder,
            or the ONNX tools not installed.
    """
    from advisor.predicting import PredictionError, expand_inputs

    if fmt != "onnx":
        raise ExportError(f"unknown export format {fmt!r}; the one format is 'onnx'")
    try:
        from runners.onnx_export import OnnxExportError, export_onnx
    except ModuleNotFoundError as exc:
        raise ExportError(f"{exc.name} is not installed; {INSTALL_HINT}") from None

    def expand(modality: str) -> list[Any]:
        return [payload for _, payload, _ in expand_inputs(inputs or [], modality, text_column, label_column)]

    check_inputs: Any = payloads if payloads is not None else (expand if inputs else None)
    try:
        result = export_onnx(model_dir, out, check_inputs)
    except (OnnxExportError, PredictionError) as exc:
        raise ExportError(str(exc)) from None
    except ModuleNotFoundError as exc:  # onnxscript (the exporter) or onnxruntime (the check)
        raise ExportError(f"{exc.name} is not installed; {INSTALL_HINT}") from None
    summary = result.as_dict()
    if checked_on is None:
        checked_on = "made-up examples" if result.check.generated else "given examples"
    return {**summary, "checked_on": checked_on}


def _megabytes(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.2f} MB"


def export_lines(summary: dict[str, Any]) -> list[str]:
    """Where the ONNX files are, their size, the CPU latency per example and the check (terminal and report)."""
    check = summary["check"]
    members = summary.get("members") or []
    what = f"ensemble of {len(members)} ONNX models ({', '.join(members)})" if members else "ONNX model"
    verdict = "passed" if check["passed"] else "FAILED"
    return [
        f"{what}: {summary['out_dir']} ({_megabytes(summary['size_bytes'])}; preprocessing in preprocessing.json).",
        f"CPU latency: {summary['latency_ms']:.2f} ms per example ({summary['latency_setting']}).",
        f"onnxruntime check {verdict} on {check['n_examples']} {summary['checked_on']}: largest probability "
        f"difference from `advisor predict` {check['max_abs_diff']:.1e} (tolerance {check['tolerance']:.0e}), "
        f"same label on {check['same_labels']} of {check['n_examples']}.",
    ]
