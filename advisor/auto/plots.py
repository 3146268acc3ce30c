"""PNG plots of a search: optimisation history, parameter importance, learning curves."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import optuna

from advisor.auto.report import Report

log = logging.getLogger(__name__)


def write_plots(study: optuna.Study, report: Report, out: Path) -> list[Path]:
    """Write what the study supports; importance needs two or more finished trials with params."""
    import matplotlib

    matplotlib.use("Agg")
    with warnings.catch_warnings():
        # Optuna marks its matplotlib plots experimental and warns about thin data (few trials per
        # parameter): expected in a short search, noise in its output.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", UserWarning)
        return _write_plots(study, report, out)


def _write_plots(study: optuna.Study, report: Report, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    written: list[Path] = []

    def save(figure: object, name: str) -> None:
        fig = getattr(figure, "figure", figure)
        fig.tight_layout()  # type: ignore[attr-defined]
        fig.savefig(out / name, dpi=100)  # type: ignore[attr-defined]
        plt.close(fig)  # type: ignore[arg-type]
        written.append(out / name)

    try:
        save(ovm.plot_optimization_history(study), "optimization_history.png")
    except (ValueError, RuntimeError) as exc:
        log.info("no optimisation history plot: %s", exc)
    if sum(t.state == "COMPLETE" for t in report.trials) >= 2:
        try:
            save(ovm.plot_param_importances(study), "param_importances.png")
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            log.info("no parameter importance plot: %s", exc)
    save(_learning_curves(plt, report), "learning_curves.png")
    return written


def _learning_curves(plt: Any, report: Report) -> Any:
    fig, ax = plt.subplots(figsize=(8, 5))
    best_number = report.best.number if report.best else None
    for trial in report.trials:
        if not trial.curve:
            continue
        accuracies = [point["val_accuracy"] for point in trial.curve]
        marker = "o" if len(accuracies) == 1 else None  # a head fit is one point: a line would not show it
        if trial.number == best_number:
            ax.plot(accuracies, color="tab:green", linewidth=2.5, marker=marker, label=f"best (trial {trial.number})")
        elif trial.state == "PRUNED":
            ax.plot(accuracies, color="tab:orange", alpha=0.5, linestyle="--", marker=marker)
        else:
            ax.plot(accuracies, color="tab:blue", alpha=0.4, marker=marker)
    ax.plot([], [], color="tab:orange", linestyle="--", label="pruned")
    ax.plot([], [], color="tab:blue", label="other trials")
    ax.set_xlabel("epoch (all stages)")
    ax.set_ylabel("validation accuracy")
    ax.set_title("Learning curves")
    ax.legend()
    return fig
