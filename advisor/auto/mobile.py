"""`advisor auto --priority mobile`: the exported model also written as ONNX (`OUT/model/onnx`), checked
with onnxruntime on the test split against `advisor predict`, with its size and CPU latency in the report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from advisor.auto.config import TuneConfig
from advisor.auto.report import Report


def export_for_mobile(
    report: Report, config: TuneConfig, test_inputs: list[Any], interrupted: bool, clock: Callable[[], float]
) -> tuple[Report, dict[str, float]]:
    """For `--priority mobile` (and a search that was not interrupted): `report` with `onnx` filled in
    (`advisor.exporting.export_model`'s summary), or with a note saying why there is no ONNX model
    (the ONNX tools not installed, a member the exporter refuses; the search leaves the classical
    member out of a mobile export); with the phase's seconds as `{"onnx": s}`. Otherwise `report`
    unchanged and no phase."""
    from advisor.exporting import ExportError, export_model

    if config.priority != "mobile" or interrupted or report.model_dir is None:
        return report, {}
    start = clock()
    try:
        summary = export_model(
            Path(report.model_dir),
            payloads=test_inputs or None,  # no test split: made-up examples
            checked_on="test-split examples" if test_inputs else None,
        )
    except ExportError as exc:
        note = f"No ONNX export for --priority mobile: {exc}"
        return report.model_copy(update={"notes": [*report.notes, note]}), {"onnx": clock() - start}
    return report.model_copy(update={"onnx": summary}), {"onnx": clock() - start}
