"""The Optuna objective: one sampled plan → one real fine-tuning trial through `runners`.

Each epoch reports validation accuracy to Optuna (so the pruner can stop weak trials) and checks
the wall-clock budget; a trial cut by the budget still counts with what it reached, and its best
weights are kept. Only the best trial's exported model stays on disk.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import optuna

from advisor.auto.config import TuneConfig
from advisor.auto.diagnosis import observe
from advisor.auto.space import SearchSpace, TrialPlan
from advisor.engine.diagnose import diagnose
from advisor.engine.loader import RuleBook

RULE_PLAN_ATTR = "rule_plan"


class BudgetSpent(Exception):
    """Raised from the epoch callback when the search's wall clock has run out."""


class TrialFailed(Exception):
    """A trial the runner reported as failed; Optuna records it as FAIL with this message."""


class SearchEvents(Protocol):
    """What the terminal progress line and the TUI listen to."""

    def trial_started(self, number: int, plan: TrialPlan) -> None: ...

    def epoch(self, number: int, metrics: Any) -> None: ...

    def trial_finished(self, number: int, state: str, value: float | None, notes: list[str]) -> None: ...


def trial_spec(plan: TrialPlan, config: TuneConfig, backbone: str, output_dir: Path, augment: bool) -> Any:
    """The runners' `TrialSpec` for a plan: head first, then the top blocks (progressive schedule)."""
    from runners import AugmentConfig, CacheConfig, StageSpec, TrialSpec

    stages = [StageSpec(trainable_blocks=0, epochs=plan.head_epochs, lr_head=plan.lr_head, lr_backbone=0.0)]
    if plan.trainable_blocks > 0:
        assert plan.lr_backbone is not None and plan.tune_epochs is not None
        stages.append(
            StageSpec(
                trainable_blocks=plan.trainable_blocks,
                epochs=plan.tune_epochs,
                # The guide keeps the head 10× above the top blocks once they train (1e-3 over 1e-4).
                lr_head=min(plan.lr_head, 10 * plan.lr_backbone),
                lr_backbone=plan.lr_backbone,
                layer_decay=plan.layer_decay,
            )
        )
    return TrialSpec(
        modality=config.data_modality,
        backbone=backbone,
        weights=config.weights,
        data=config.data,
        text_column=config.text_column,
        label_column=config.label_column,
        split_fractions=config.split_fractions,
        stages=stages,
        batch_size=config.batch_size,
        weight_decay=plan.weight_decay,
        augment=AugmentConfig(enabled=augment),
        cache=CacheConfig(enabled=config.cache),
        seed=config.seed,
        device=config.device,
        image_size=config.image_size,
        max_length=config.max_length,
        output_dir=output_dir,
        evaluate_test=False,  # the search never looks at the test split; only its winner is scored
    )


class Objective:
    """Callable objective; constructor stores the settings, `__call__` runs one trial."""

    def __init__(
        self,
        config: TuneConfig,
        space: SearchSpace,
        book: RuleBook,
        runner: Any,
        backbone: str,
        deadline: float,
        events: SearchEvents,
        n_examples: int,
        augment: bool,
        clock: Callable[[], float] = time.monotonic,
        worker: int = 0,
    ) -> None:
        self.config = config
        self.space = space
        self.book = book
        self.runner = runner
        self.backbone = backbone
        self.deadline = deadline
        self.events = events
        self.n_examples = n_examples
        self.augment = augment
        self.clock = clock
        self.worker = worker

    def trial_dir(self, number: int) -> Path:
        return self.config.out / "trials" / f"{number:04d}"

    def __call__(self, trial: optuna.Trial) -> float:
        plan = self.space.suggest(trial)
        trial.set_user_attr("worker", self.worker)
        trial.set_user_attr("plan", plan.model_dump())
        self.events.trial_started(trial.number, plan)
        spec = trial_spec(plan, self.config, self.backbone, self.trial_dir(trial.number), self.augment)
        result = self._run(trial, spec)
        if result.status == "failed" and _is_oom(result.error) and spec.batch_size > 1:
            trial.set_user_attr("oom_retry_batch_size", spec.batch_size // 2)
            result = self._run(trial, spec.model_copy(update={"batch_size": spec.batch_size // 2}))
        return self._record(trial, plan, result)

    def _run(self, trial: optuna.Trial, spec: Any) -> Any:
        step = 0

        def on_epoch(metrics: Any) -> None:
            nonlocal step
            self.events.epoch(trial.number, metrics)
            if math.isfinite(metrics.val_accuracy):
                trial.report(metrics.val_accuracy, step)
            step += 1
            if self.clock() >= self.deadline:
                raise BudgetSpent(f"budget spent after epoch {step}")
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {step}: val accuracy {metrics.val_accuracy:.3f}")

        return self.runner.run(spec, on_epoch)

    def _record(self, trial: optuna.Trial, plan: TrialPlan, result: Any) -> float:
        trial.set_user_attr("curve", [m.model_dump() for m in result.curve])
        trial.set_user_attr("status", result.status)
        trial.set_user_attr("seconds", result.seconds)
        trial.set_user_attr("n_skipped_files", result.n_skipped_files)
        if result.backbone is not None and result.backbone.fallback_reason:
            trial.set_user_attr("backbone_fallback", result.backbone.fallback_reason)
        observation = observe(plan, result, self.space.n_blocks, self.n_examples, self.augment)
        notes = [d.diagnosis for d in diagnose(observation, self.book.mistakes)]
        trial.set_user_attr("diagnoses", notes)
        if result.status == "failed":
            trial.set_user_attr("error", result.error)
            self._discard_model(trial.number)
            self.events.trial_finished(trial.number, "failed", None, [result.error or "failed", *notes])
            raise TrialFailed(result.error or "trial failed")
        if result.status == "stopped" and isinstance(result.stop_exception, optuna.TrialPruned):
            trial.set_user_attr("pruned_at_epoch", len(result.curve))
            self._discard_model(trial.number)
            self.events.trial_finished(trial.number, "pruned", None, notes)
            raise result.stop_exception
        if result.status == "stopped":
            trial.set_user_attr("stopped_by_budget", True)
        value = result.best_val_accuracy if result.best_val_accuracy is not None else 0.0
        self._keep_if_best(trial, value)
        self.events.trial_finished(trial.number, result.status, value, notes)
        return value

    def _keep_if_best(self, trial: optuna.Trial, value: float) -> None:
        """Keep this trial's model only if it beats every finished trial so far; drop the others'."""
        finished = [t for t in trial.study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
        best = max(finished, key=lambda t: t.value if t.value is not None else -1.0, default=None)
        if best is not None and best.value is not None and best.value >= value:
            self._discard_model(trial.number)
            return
        for other in finished:
            self._discard_model(other.number)

    def _discard_model(self, number: int) -> None:
        shutil.rmtree(self.trial_dir(number) / "model", ignore_errors=True)


def _is_oom(error: str | None) -> bool:
    return error is not None and "out of memory" in error.lower()
