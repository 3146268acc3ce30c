"""A scripted runner that plays back learning curves, to test the search logic without training."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from runners import Confusion, DataSource, EpochMetrics, TrialResult, TrialSpec
from runners.data import LabelledData
from runners.errors import StopTrial, failure_text


class ScriptedRunner:
    """Stands in for TimmRunner/HFTextRunner: `script(spec)` gives the val accuracy per epoch.

    A script may return a string instead: the trial then fails with that error. An exception in
    place of an epoch's accuracy is raised while "training" that epoch, and fails the trial as
    `Runner.run` does (its traceback is the error).
    """

    def __init__(
        self,
        script: Callable[[TrialSpec], list[Any] | str],
        n_blocks: int = 6,
        head_features: tuple[str, ...] = ("pooled",),
    ) -> None:
        self.script = script
        self._n_blocks = n_blocks
        self._head_features = head_features
        self.specs: list[TrialSpec] = []
        self.refits: list[TrialSpec] = []  # the finishing phase's refits on train + validation

    def load_data(self, source: DataSource, progress: Any = None) -> LabelledData:
        labels = ["a"] * 30 + ["b"] * 10
        # Tiny grey squares, for the members that read inputs (an image search's pixel member).
        inputs = [np.full((2, 2), i, dtype=np.uint8) for i in range(40)]
        return LabelledData(inputs=inputs, labels=labels, ids=[str(i) for i in range(40)])

    def load_data_cached(self, source: DataSource, progress: Any = None) -> LabelledData:
        return self.load_data(source)

    def n_blocks(self, backbone: str, weights: str | None = None, **kwargs: Any) -> int:
        return self._n_blocks

    def head_feature_choices(self, backbone: str) -> tuple[str, ...]:
        return self._head_features

    def run(self, spec: TrialSpec, callback: Callable[[EpochMetrics], None] | None = None) -> TrialResult:
        (self.refits if spec.train_on_val else self.specs).append(spec)
        script = self.script(spec)
        if isinstance(script, str):
            return TrialResult(status="failed", error=script, n_blocks=self._n_blocks)
        curve: list[EpochMetrics] = []
        for i, acc in enumerate(script):
            if isinstance(acc, BaseException):
                try:  # raised while training this epoch; Runner.run reports it as a failed trial
                    raise acc
                except Exception as exc:  # noqa: BLE001 - mirrors Runner.run
                    return TrialResult(status="failed", error=failure_text(exc), n_blocks=self._n_blocks)
            stage = 0 if i < spec.stages[0].epochs else 1
            metrics = EpochMetrics(
                stage=stage,
                epoch=i,
                train_loss=1 - acc,
                train_accuracy=min(1.0, acc + 0.05),
                val_loss=1 - acc,
                val_accuracy=acc,
                val_macro_f1=acc,
                seconds=0.01,
                lr=1e-3,
            )
            curve.append(metrics)
            try:
                if callback is not None:
                    callback(metrics)
            except StopTrial as exc:  # mirrors Runner.run: a stop signal ends the trial "stopped"
                return self._result("stopped", curve, spec, error=f"{type(exc).__name__}: {exc}", stop_exception=exc)
            except Exception as exc:  # noqa: BLE001 - mirrors Runner.run: a callback's bug fails the trial
                return self._result("failed", curve, spec, error=failure_text(exc))
        return self._result("complete", curve, spec)

    def score_saved(
        self, model_dir: Path, inputs: list[Any], labels: list[str], device: str = "cpu", progress: Any = None
    ) -> Confusion:
        """The "model" is the best val accuracy written at export; test scores 0.01 below it (a 2-class
        confusion matrix over a million examples with that accuracy)."""
        self.scored = getattr(self, "scored", 0) + 1
        right = round(1_000_000 * (float((Path(model_dir) / "weights.txt").read_text()) - 0.01))
        return Confusion(
            classes=["a", "b"],
            counts=[[right // 2, 500_000 - right // 2], [500_000 - (right - right // 2), right - right // 2]],
        )

    def _result(self, status: str, curve: list[EpochMetrics], spec: TrialSpec, **extra: Any) -> TrialResult:
        best = min(curve, key=lambda m: m.val_loss) if curve else None
        model_dir = None
        if spec.output_dir is not None and best is not None:
            model_dir = Path(spec.output_dir) / "model"
            model_dir.mkdir(parents=True, exist_ok=True)
            (model_dir / "weights.txt").write_text(str(best.val_accuracy))
            (Path(spec.output_dir) / "split.json").write_text('{"test": ["0", "1", "2"]}')
        return TrialResult(
            status=status,
            curve=curve,
            best_val_loss=best.val_loss if best else None,
            best_val_accuracy=best.val_accuracy if best else None,
            test_accuracy=best.val_accuracy - 0.01 if best else None,
            n_blocks=self._n_blocks,
            model_dir=model_dir,
            **extra,
        )


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test PostgreSQL server (`make test` starts one); without it the test skips, or fails under CI=true."""
    url = os.environ.get("ADVISOR_TEST_POSTGRES_URL")
    if url:
        return url
    message = "needs ADVISOR_TEST_POSTGRES_URL (make test starts a server; or bash .ci/with-postgres.sh CMD)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    """A folder that passes TuneConfig's checks; the scripted runner never reads it."""
    root = tmp_path / "data"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        (root / name / "x.png").write_bytes(b"")
    return root
