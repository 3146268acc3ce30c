"""`advisor auto`: hands-off Optuna search over unfreeze depth and learning rates, seeded by the rules.

Imports torch, optuna and the runners lazily: `import advisor` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from advisor.auto.report import Report


def tune(data: str | Path, out: str | Path, **settings: Any) -> Report:
    """Search for the best fine-tuning plan on `data`; write the report and best model under `out`.

    Args:
        data: An image folder (one sub-folder per class), a text folder, or a CSV/TSV/JSONL file with text and label columns.
        out: Output folder: `study.db`, `report.json`, `report.md`, plots and `model/`.
        **settings: Any field of `advisor.auto.config.TuneConfig` (budget_minutes, trials, backbone, ...).

    Returns:
        The report (also written to `out/report.json`). Running again with the same `out` resumes.
    """
    from advisor.auto.config import TuneConfig
    from advisor.auto.search import run_search

    return run_search(TuneConfig(data=Path(data), out=Path(out), **settings))


__all__ = ["tune"]
