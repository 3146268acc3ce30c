"""The Optuna objective: one sampled plan → one real fine-tuning trial through `runners`.

Each epoch reports validation accuracy to Optuna (so the pruner can stop weak trials) and checks
the wall-clock budget; a trial cut by the budget still counts with what it reached, and its best
weights are kept. Only the best trial's exported model stays on disk.
"""

from __future__ import annotations

import math
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import optuna

from advisor.auto.attrs import StudyAttr, TrialAttr
from advisor.auto.budget import CostModel, PassPrice
from advisor.auto.config import TuneConfig
from advisor.auto.diagnosis import final_diagnoses, head_stage, observe, stage_gains
from advisor.auto.space import HEAD_C_DEFAULT, SearchSpace, TrialPlan
from advisor.auto.stacking import MAX_STORED_OOF, StoredMember, fine_tune_bar, stored_classical
from advisor.auto.study import diverse_first, out_of_fold_head, ranked_trials, selection_key
from advisor.auto.trial_specs import rule_plan_spec, trial_spec
from advisor.engine.diagnose import Diagnosis, diagnose
from advisor.engine.rulebook import RuleBook
from advisor.recommendation import Recommendation
from runners.errors import StopTrial
from runners.specs import CacheConfig

if TYPE_CHECKING:
    from runners.runner import Runner
    from runners.specs import AugmentConfig, TrialSpec

# A variant a diagnosis asked for (learning rates ÷ 10): on the variant trial, what it retries; on the
# study, "retried:<mistake id>" (`StudyAttr.RETRIED`) once that mistake's variant is queued.
# Models kept on disk as ensemble candidates: the issue caps neural members at three.
KEEP_MODELS = 3
# Below this many validation examples a head-only trial is selected on k-fold CV over train + val,
# and the ensemble weighed on its out-of-fold predictions (`finish.select_out_of_fold`). At 1,000
# examples and 90% accuracy one standard error is about a point, the gap between good members; below
# it validation alone let noise pick them: digits' 269 validation images (bench/bench_peers.py
# --task digits, seed 0) chose a fine-tuned trial at 0.978 there (0.964 test) over the pixel member
# at 0.963 (0.996 test), test 0.969; out of fold, on 1,347 images, the best head and the pixel
# member, test 0.998. (It was 200, the "~200".)
SMALL_VALIDATION = 1000
CV_FOLDS = 5
# The largest share of the budget held back for refitting the winner on train + validation.
REFIT_MAX_SHARE = 0.25


class BudgetSpent(StopTrial):
    """Raised from the epoch callback when the search's wall clock has run out."""


class PruneTrial(StopTrial):
    """Raised from the epoch callback when Optuna's pruner stops the trial; recorded as `optuna.TrialPruned`.

    `runners` knows nothing of Optuna: only `StopTrial` ends a trial as "stopped" there.
    """


class TrialFailed(Exception):
    """A trial the runner reported as failed; Optuna records it as FAIL with this message."""


class SearchEvents(Protocol):
    """What the terminal progress line and the TUI listen to."""

    def trial_started(self, number: int, plan: TrialPlan) -> None: ...

    def epoch(self, number: int, metrics: Any) -> None: ...

    def trial_finished(self, number: int, state: str, value: float | None, notes: list[str]) -> None: ...


class Objective:
    """Callable objective; constructor stores the settings, `__call__` runs one trial.

    Budget: a trial whose estimated cost (`CostModel`, learned from this search's trials) exceeds
    what is left is not started; a running trial stops after an epoch when the next one would not
    fit. "Left" is the deadline minus `reserve()`, the time the finishing phase (refit, ensemble,
    scoring the winner) is expected to take.
    """

    def __init__(
        self,
        config: TuneConfig,
        space: SearchSpace,
        book: RuleBook,
        runner: Runner,
        backbone: str,
        deadline: float,
        events: SearchEvents,
        n_examples: int,
        augment: AugmentConfig,
        clock: Callable[[], float] = time.monotonic,
        worker: int = 0,
        split_sizes: tuple[int, int, int] | None = None,
        recommendation: Recommendation | None = None,
        price: PassPrice | None = None,
        classical_read_seconds: float = 0.0,
        classical_refit_seconds: float = 0.0,
    ) -> None:
        """`classical_read_seconds`, `classical_refit_seconds`: the classical member's reading of train +
        validation in set-up and its expected refit (`advisor.auto.classical.ClassicalMember`; 0 without one)."""
        self.config = config
        self.space = space
        self.book = book
        self.runner = runner
        self.backbone = backbone
        self.deadline = deadline
        self.events = events
        self.n_examples = n_examples
        self.augment = augment  # the runners' AugmentConfig every trial trains with
        self.recommendation = recommendation
        self.clock = clock
        self.worker = worker
        n_train, n_val, n_test = split_sizes or (n_examples, 0, 0)
        self.n_train, self.n_val, self.n_test = n_train, n_val, n_test
        self.views = CacheConfig().n_views if augment.enabled else 1
        # Rows of a head fit and of an epoch: clean features and cached views when augmenting.
        # The prior prices epochs only: the finishing phase's reserve waits for a trial's own
        # measurement (on BBC 20/class the prior, model load included, priced scoring the 2,075
        # test texts above the whole 3-minute budget, and no trial started).
        # A head-only trial on dihedral views also runs the views the cache lacks over train + validation.
        self.cost = CostModel.priced(space.n_blocks, n_train * self.views, n_val, price, n_train + n_val)
        self.skipped_in_a_row = 0
        self.n_complete = 0
        # Validation accuracies of complete trials, head-only and fine-tuning apart (the ensemble's expected size).
        self.head_vals: list[float] = []
        self.tuned_vals: list[float] = []
        # The plans, seconds and cache-fill seconds of the trials whose models are kept (`_keep_top`),
        # in the ensemble candidates' order (`diverse_first`): what the export may hold and what their refits cost.
        self.kept_runs: list[tuple[TrialPlan, float, float]] = []
        self.best_value = -1.0
        self.classical_read_seconds = classical_read_seconds
        self.classical_refit_seconds = classical_refit_seconds
        # The validation accuracy of the heads' mix a fine-tuning trial must beat to join an out-of-fold
        # export (`stacking.fine_tune_bar`), as of the last complete trial; None until it can be weighed.
        self.fine_tune_bar: float | None = None
        self.classical_oof: StoredMember | None = None  # `stacking.stored_classical`, once read

    def trial_dir(self, number: int) -> Path:
        return self.config.out / "trials" / f"{number:04d}"

    def reserve(self) -> float:
        """Seconds the finishing phase needs for the export the kept trials make: the refits of the
        members it is expected to hold (best first), then scoring on the test split.

        Each member is refit: on ELPV 4 grades three heads on the 4 rotations took 43 s to refit where
        the reserve held the best one's (a few seconds), and the run ended 4.9% past its budget. A
        refit dearer than `REFIT_MAX_SHARE` of the budget is not reserved for: holding that much
        back would starve the search (on ELPV, 2 CPU cores, a fine-tuning trial's refit was priced at
        863 s of a 600 s budget and cut the rule plan after one epoch); it is skipped at the end
        unless the trials leave the time.
        """
        forward = self.cost.forward_per_example or 0.0
        refit = 0.0
        if self.config.refit:
            refits = (self.refit_seconds(plan, seconds, fill) for plan, seconds, fill in self._members())
            refit = sum(r for r in refits if r <= REFIT_MAX_SHARE * self.config.budget_minutes * 60)
        # The exported model is scored on the test split: one pass per neural member. (The searched
        # winner alone is scored too when time is left; no reserve is held for it.)
        return refit + forward * self.n_test * self.expected_passes() + self.classical_reserve()

    def test_pass_growth(self, plan: TrialPlan) -> float:
        """Seconds a trial of `plan`, kept, would add to scoring the export on the test split (its views'
        passes, its top blocks): paid from the time left when it starts, or the finish runs past the
        deadline (ELPV 4 grades: a reserve that held one pass until a head on 8 views was kept ran the
        test split's 8 views past the budget, +14.6%)."""
        added = max(self.expected_passes(plan) - self.expected_passes(), 0.0)
        return added * (self.cost.forward_per_example or 0.0) * self.n_test

    def _members(self, candidate: TrialPlan | None = None) -> list[tuple[TrialPlan, float, float]]:
        """The plans, seconds and fill seconds of the trials the export is expected to hold, in the
        candidates' order (`kept_runs`); `candidate` (a trial about to start) counts as kept and first."""
        runs = [(candidate, 0.0, 0.0), *self.kept_runs] if candidate is not None else list(self.kept_runs)
        n = self.expected_members(candidate)
        if not self._out_of_fold(candidate):
            return runs[:n]
        # Out-of-fold selection weighs the kept heads first, then the fine-tuning trials that beat
        # them on validation: the heads' refits are what to reserve for, whatever trial scored best.
        heads = [run for run in runs if run[0].trainable_blocks == 0]
        if not heads:  # the heads' models are not kept (yet): one head, on the widest views tried
            views = max((p.dihedral_views for p, _, _ in runs if p.trainable_blocks == 0), default=1)
            head = TrialPlan(trainable_blocks=0, head_c=HEAD_C_DEFAULT, dihedral_views=views)
            heads = [(head, self.cost.overhead(), 0.0)]
        return [*heads, *(run for run in runs if run[0].trainable_blocks > 0)][:n]

    def classical_reserve(self) -> float:
        """The classical member's share of the finishing phase: its refit on train + validation (one fit,
        as measured in set-up, on the features set-up read) and reading the test split (the set-up's
        reading, per example). Unpriced, ELPV 4 grades' pixel member (9 s in set-up) took the run to 612 s of 600."""
        rows = max(1, self.n_train + self.n_val)
        refit = self.classical_refit_seconds if self.config.refit else 0.0
        return refit + self.classical_read_seconds * self.n_test / rows

    def expected_passes(self, candidate: TrialPlan | None = None) -> float:
        """Full forward passes the exported model's test pass is expected to cost (with `candidate`, a
        trial about to start, among its members).

        A search's members share the frozen blocks below their boundary (`runners.ensemble.shared_depth`:
        same weights, same input size), so one full pass plus, for each further member, the top
        blocks of the deepest kept trial: on ELPV 4 grades the three head-only members scored 656
        cells at 41.9 ms each where three whole passes took 128.3. Random weights share nothing.

        A head-only member on dihedral views scores every view, one pass per view shared by the
        heads; fine-tuning members score the image as it is, view 0, and share its frozen blocks,
        so each adds its top blocks (`runners.ensemble.EnsemblePredictor._shared_pass`). Views are
        counted once a member on them is kept or about to start: a trial's start pays for the
        passes its views would add. Held from the first trial (on ELPV, 2 CPU cores, 4 views' test
        pass, 107 s), they stopped the search after the rule plan with 99 s left.

        A head on another backbone (`TrialPlan.head_backbone`) shares no block with this one's: that
        backbone's pass over its views, in passes of this one (`CostModel.pass_ratio`), shared by its heads.
        """
        members = self.expected_members(candidate)
        plans = [plan for plan, _, _ in self._members(candidate)]
        others: dict[str, int] = {}
        for plan in plans:
            if plan.head_backbone is not None:
                others[plan.head_backbone] = max(others.get(plan.head_backbone, 0), plan.dihedral_views)
        elsewhere = sum(views * self.cost.pass_ratio(name) for name, views in others.items())
        own = [plan for plan in plans if plan.head_backbone is None]
        members -= len(plans) - len(own)
        if members <= 0:
            return elsewhere
        return elsewhere + self._own_passes(members, own)

    def _own_passes(self, members: int, plans: list[TrialPlan]) -> float:
        """`expected_passes` of `members` members on this search's backbone, `plans` those known."""
        views = max((plan.dihedral_views for plan in plans if plan.trainable_blocks == 0), default=1)
        depths = [plan.trainable_blocks for plan in plans]
        if self.config.weights == "none" or not depths or self.space.n_blocks <= 0:
            return float(members - 1 + views)
        if views == 1:
            return 1.0 + (members - 1) * self.cost.top_share(max(depths))
        tuned = [k for k in depths if k > 0][: members - 1]
        return views + (len(tuned) * self.cost.top_share(max(tuned)) if tuned else 0.0)

    def expected_members(self, candidate: TrialPlan | None = None) -> int:
        """Neural members the exported model is expected to have (each costs a pass at prediction),
        `candidate` (a trial about to start) counted as complete.

        Up to `KEEP_MODELS` with the ensemble on; on a small validation split (out-of-fold selection,
        `finish.select_out_of_fold`) the kept heads (at least one) plus the fine-tuning trials that
        beat the heads' mix on validation (`fine_tune_bar`; the best head's score until the mix can
        be weighed), the only ones that may join them (a fine-tuning candidate may be one).
        """
        if not self.config.ensemble:
            return 1
        if not self._out_of_fold(candidate):
            return min(KEEP_MODELS, max(1, self.n_complete + (candidate is not None)))
        plans = [plan for plan, _, _ in self.kept_runs] + ([candidate] if candidate is not None else [])
        heads = max(1, sum(plan.trainable_blocks == 0 for plan in plans))
        bar = self.fine_tune_bar if self.fine_tune_bar is not None else max(self.head_vals, default=0.0)
        better = sum(v > bar for v in self.tuned_vals)
        better += candidate is not None and candidate.trainable_blocks > 0
        return min(KEEP_MODELS, heads + better)

    def _out_of_fold(self, candidate: TrialPlan | None = None) -> bool:
        """The finishing phase will select the ensemble out of fold: small validation, a head-only trial
        done (or `candidate`, about to start, one)."""
        head = bool(self.head_vals) or (candidate is not None and candidate.trainable_blocks == 0)
        return self.config.ensemble and self.head_cv_folds is not None and head

    @property
    def head_cv_folds(self) -> int | None:
        """Folds a head-only trial is cross-validated on (small validation), else None: scored on validation."""
        return CV_FOLDS if self.n_val < SMALL_VALIDATION else None

    def refit_seconds(self, plan: TrialPlan, seconds: float, fill: float = 0.0) -> float:
        """Estimated seconds to refit on train + validation a trial of this plan that took `seconds`,
        `fill` of them filling the cache.

        A cross-validated head (small validation) fitted once per fold and once on train: its refit
        is one fit. Priced as its trial, ELPV 4 grades' best head (4 rotations, 23.4 s, split 0)
        held 29 s; its refit, the pixel member's and the export took 7.2 s together.
        """
        if plan.trainable_blocks == 0 and self.head_cv_folds is not None:
            seconds = fill + max(seconds - fill, 0.0) / (self.head_cv_folds + 1)
        return self.cost.refit(plan, seconds, self.n_train, self.n_val, self.views, cached=self.config.cache, fill=fill)

    def time_left(self) -> float:
        """Seconds left for trials (the finishing phase's reserve already taken off)."""
        return self.deadline - self.reserve() - self.clock()

    def __call__(self, trial: optuna.Trial) -> float:
        left = self.time_left()
        # The rule plan always starts: it is the advice being checked, and the running guard below
        # cuts its epochs to the budget (the report says what it ran against what it asks).
        rule_plan = bool(trial.user_attrs.get(TrialAttr.RULE_PLAN))
        # Sampled plans are drawn among the depths and epochs the time left pays for; the enqueued
        # ones (the rule plan, a diagnosis's retry) keep their own.
        queued = rule_plan or bool(trial.user_attrs.get(TrialAttr.RETRY_OF))
        with warnings.catch_warnings():
            # A retry's rates are the rule plan's scaled by a diagnosis, outside the searched range on
            # purpose: Optuna's warning about it would only reach the user's terminal.
            warnings.filterwarnings("ignore", message="Fixed parameter .* is out of range", category=UserWarning)
            plan = self.space.suggest(trial, None if queued else (lambda k: self.cost.epochs_that_fit(k, left)))
        trial.set_user_attr(TrialAttr.WORKER, self.worker)
        trial.set_user_attr(TrialAttr.PLAN, plan.model_dump())
        estimate = self.cost.estimate(plan)
        finish = self.test_pass_growth(plan) if estimate is not None else 0.0
        if estimate is not None and estimate + finish > left and not rule_plan:
            if not trial.user_attrs.get(TrialAttr.SWEEP):
                # The sweep's queue ends; a sampler that keeps proposing what does not fit is what the streak stops.
                self.skipped_in_a_row += 1
            then = f" ({finish:.0f} s of it to finish with it)" if finish >= 0.5 else ""
            reason = f"not started: estimated {estimate + finish:.0f} s{then}, {max(left, 0):.0f} s left"
            trial.set_user_attr(TrialAttr.SKIPPED_BY_BUDGET, reason)
            raise optuna.TrialPruned(reason)
        self.skipped_in_a_row = 0
        self.events.trial_started(trial.number, plan)
        cv_folds = self.head_cv_folds
        spec = self.spec_for(trial, plan, self.trial_dir(trial.number), cv_folds)
        trial.set_user_attr(TrialAttr.STAGES, [stage.model_dump(exclude_defaults=True) for stage in spec.stages])
        result, next_step = self._run(trial, plan, spec)
        if result.status == "failed" and _is_oom(result.error) and spec.batch_size > 1:
            trial.set_user_attr(TrialAttr.OOM_RETRY_BATCH_SIZE, spec.batch_size // 2)
            # The retry reports on from the first attempt's last step: Optuna ignores a step reported twice.
            half = spec.model_copy(update={"batch_size": spec.batch_size // 2})
            result, _ = self._run(trial, plan, half, first_step=next_step)
        return self._record(trial, plan, result)

    def spec_for(self, trial: Any, plan: TrialPlan, output_dir: Path | None, cv_folds: int | None = None) -> TrialSpec:
        """The runners' spec of a trial: the recommendation itself for the rule plan (and, at the scaled
        rates, for a diagnosis's retry of it), else the sampled plan."""
        retry = trial.user_attrs.get(TrialAttr.RETRY_OF) or {}
        rule_plan = trial.user_attrs.get(TrialAttr.RULE_PLAN) or retry.get("rule_plan")
        if rule_plan and self.recommendation is not None:
            return rule_plan_spec(
                scaled_rates(self.recommendation, retry.get("factors", {})),
                self.config,
                self.backbone,
                self.space.n_blocks,
                output_dir,
                self.augment,
                cv_folds,
                plan.class_weights,
                min_stage_gain=self.book.mistakes.stage_gain_floor(),
                dihedral_views=plan.dihedral_views,
            )
        return trial_spec(plan, self.config, self.backbone, output_dir, self.augment, cv_folds)

    def _run(self, trial: optuna.Trial, plan: TrialPlan, spec: Any, first_step: int = 0) -> tuple[Any, int]:
        """Runs `spec`, reporting its epochs to Optuna as steps `first_step`, `first_step` + 1, ...

        Returns the runner's result and the step after the last one reported.
        """
        step, epochs = first_step, 0  # the Optuna step; epochs of this run (the budget checks count these)
        # The stage of every epoch the spec asks for (a converged head fit is one).
        schedule = [s for s in spec.stages for _ in range(1 if s.converged_head else s.epochs)]
        last = self.clock()

        def on_epoch(metrics: Any) -> None:
            nonlocal step, epochs, last
            self.events.epoch(trial.number, metrics)
            if math.isfinite(metrics.val_accuracy):
                trial.report(metrics.val_accuracy, step)
            step, epochs = step + 1, epochs + 1
            now = self.clock()
            took, last = now - last, now
            left = self.time_left()
            if left <= 0:
                raise BudgetSpent(f"budget spent after epoch {epochs}")
            if epochs < len(schedule):  # another epoch would follow: does it fit?
                stage, k = schedule[epochs], schedule[epochs].trainable_blocks
                same = stage is schedule[epochs - 1] and not stage.converged_head
                coming = took if same else (self.cost.epoch(k) or 0.0) + self.cost.fill(k)
                if coming > left:
                    raise BudgetSpent(f"budget: the next epoch (~{coming:.0f} s) would not fit in {left:.0f} s")
            if trial.should_prune():
                raise PruneTrial(f"pruned at epoch {epochs}: val accuracy {metrics.val_accuracy:.3f}")

        result = self.runner.run(spec, on_epoch)
        return result, step

    def _record(self, trial: optuna.Trial, plan: TrialPlan, result: Any) -> float:
        trial.set_user_attr(TrialAttr.CURVE, [m.model_dump() for m in result.curve])
        trial.set_user_attr(TrialAttr.STATUS, result.status)
        trial.set_user_attr(TrialAttr.SECONDS, result.seconds)
        trial.set_user_attr(TrialAttr.FILL_SECONDS, result.fill_seconds)
        trial.set_user_attr(TrialAttr.STAGE_SECONDS, list(result.stage_seconds))
        trial.set_user_attr(TrialAttr.N_SKIPPED_FILES, result.n_skipped_files)
        if result.skipped_stages:
            trial.set_user_attr(TrialAttr.SKIPPED_STAGES, result.skipped_stages)
        if result.backbone is not None and result.backbone.fallback_reason:
            trial.set_user_attr(TrialAttr.BACKBONE_FALLBACK, result.backbone.fallback_reason)
        self.cost.observe(
            plan,
            result.seconds,
            list(result.stage_seconds),
            list(result.curve),
            result.fill_seconds_per_example,
            head_fit=plan.trainable_blocks == 0 or self.config.linear_probe_first,
            fill=result.fill_seconds,
            fill_boundary=result.fill_boundary,
        )
        observation = observe(
            plan,
            result,
            self.space.n_blocks,
            self.n_train,  # what the trial trained on: a pre-split folder's test split can dwarf it
            self.augment.enabled,
            head_stage(trial.user_attrs.get(TrialAttr.STAGES), self.config.linear_probe_first),
            modality=self.config.data_modality,
            stages=trial.user_attrs.get(TrialAttr.STAGES),
        )
        trial.set_user_attr(TrialAttr.STAGE_GAINS, stage_gains(result.curve))
        trial.set_user_attr(TrialAttr.OBSERVATION, observation.model_dump(mode="json"))
        found = diagnose(observation, self.book.mistakes)
        notes = [d.diagnosis for d in found]
        if trial.user_attrs.get(TrialAttr.RETRY_OF):
            # A retry's verdict reads the trial it retried (did the fix hold?): decided now as the report will.
            verdicts = final_diagnoses(trial.study.get_trials(deepcopy=False), self.book.mistakes)
            notes = verdicts.get(trial.number, notes)
        trial.set_user_attr(TrialAttr.DIAGNOSES, notes)
        self._enqueue_retries(trial, found)
        if result.status == "failed":
            # The whole error (its traceback too) goes to the report; the terminal and Optuna get its first line.
            trial.set_user_attr(TrialAttr.ERROR, result.error)
            summary = (result.error or "trial failed").splitlines()[0]
            self._discard_model(trial.number)
            self.events.trial_finished(trial.number, "failed", None, [summary, *notes])
            raise TrialFailed(summary)
        if result.status == "stopped" and isinstance(result.stop_exception, PruneTrial):
            trial.set_user_attr(TrialAttr.PRUNED_AT_EPOCH, len(result.curve))
            self._discard_model(trial.number)
            self.events.trial_finished(trial.number, "pruned", None, notes)
            raise optuna.TrialPruned(str(result.stop_exception)) from result.stop_exception
        if result.status == "stopped":
            trial.set_user_attr(TrialAttr.STOPPED_BY_BUDGET, True)
        value = self._selection_score(trial, result)
        self.n_complete += 1
        (self.tuned_vals if plan.trainable_blocks else self.head_vals).append(
            float(trial.user_attrs.get(TrialAttr.VAL_ACCURACY) or 0.0)
        )
        if value > self.best_value:
            self.best_value = value
        self._keep_top(trial, value)
        self.events.trial_finished(trial.number, result.status, value, notes)
        return value

    @staticmethod
    def _enqueue_retries(trial: optuna.Trial, found: list[Diagnosis]) -> None:
        """A diagnosis with a `retry` (accuracy fell after unfreezing: learning rates ÷ 10) queues that variant.

        Once per study and mistake (a study user attr remembers it), with this trial's parameters
        and the rule's factors applied to those it has; the variant may fall outside the search range.
        """
        for d in found:
            scaled = {name: value * d.retry[name] for name, value in trial.params.items() if name in d.retry}
            key = f"{StudyAttr.RETRIED}:{d.mistake}"
            if not scaled or key in trial.study.user_attrs:
                continue
            trial.study.set_user_attr(key, trial.number)
            retry = {"trial": trial.number, "mistake": d.mistake, "factors": dict(d.retry)}
            if trial.user_attrs.get(TrialAttr.RULE_PLAN):
                retry["rule_plan"] = True  # the variant runs the recommendation's stages at the scaled rates
            trial.study.enqueue_trial({**trial.params, **scaled}, user_attrs={TrialAttr.RETRY_OF: retry})

    @staticmethod
    def _selection_score(trial: optuna.Trial, result: Any) -> float:
        """Cross-validated accuracy when the trial has one (small validation), else validation accuracy.

        Everything the finishing phase needs is kept with the trial: validation loss (tie-break),
        validation probabilities (ensemble selection), the standard error of the CV score.
        """
        val = result.best_val_accuracy if result.best_val_accuracy is not None else 0.0
        trial.set_user_attr(TrialAttr.VAL_ACCURACY, val)
        trial.set_user_attr(TrialAttr.VAL_LOSS, result.best_val_loss)
        if result.val_probabilities is not None:
            trial.set_user_attr(TrialAttr.VAL_PROBS, [[round(p, 6) for p in row] for row in result.val_probabilities])
            trial.set_user_attr(TrialAttr.VAL_LABELS, list(result.val_labels))
        if result.fill_seconds_per_example:
            trial.set_user_attr(TrialAttr.FILL_SECONDS_PER_EXAMPLE, result.fill_seconds_per_example)
            trial.set_user_attr(TrialAttr.FILL_BOUNDARY, result.fill_boundary)
        if result.cv_accuracy is None:
            trial.set_user_attr(TrialAttr.SELECTION, "validation")
            return val
        trial.set_user_attr(TrialAttr.SELECTION, "cross-validation")
        trial.set_user_attr(TrialAttr.CV_ACCURACY, result.cv_accuracy)
        trial.set_user_attr(TrialAttr.CV_STDERR, result.cv_stderr)
        trial.set_user_attr(TrialAttr.CV_LOG_LOSS, result.cv_log_loss)
        if result.cv_probabilities is not None and len(result.cv_labels) <= MAX_STORED_OOF:
            trial.set_user_attr(TrialAttr.CV_PROBS, [[round(p, 6) for p in row] for row in result.cv_probabilities])
            trial.set_user_attr(TrialAttr.CV_LABELS, list(result.cv_labels))
        return float(result.cv_accuracy)

    def _keep_top(self, trial: optuna.Trial, value: float) -> None:
        """Keep the models of the `KEEP_MODELS` ensemble candidates (the best trial of each kind, then the
        best others: `diverse_first`), and of the best head-only trial with out-of-fold predictions
        (the out-of-fold ensemble's head); drop the others'."""
        done: list[Any] = [*ranked_trials(trial.study), trial]  # this trial is not stored as complete yet
        ranked = sorted(
            done, key=lambda t: selection_key(value if t is trial else t.value, t.user_attrs, t.number), reverse=True
        )
        if self.config.ensemble:
            # The classical member's rows as the study holds them (every worker's bar is the same), read once:
            # they are stored before the first trial, and a worker that joins earlier reads them on a later one.
            self.classical_oof = self.classical_oof or stored_classical(trial.study)
            self.fine_tune_bar = fine_tune_bar(ranked, KEEP_MODELS, self.classical_oof)
        candidates = diverse_first(ranked, self.fine_tune_bar)
        kept = {t.number for t in candidates[:KEEP_MODELS]}
        head = out_of_fold_head(ranked)
        if head is not None:
            kept.add(head.number)
        self.kept_runs = [
            (TrialPlan.model_validate(t.user_attrs[TrialAttr.PLAN]), *run_seconds(t))
            for t in candidates
            if t.number in kept
        ]
        for t in ranked:
            if t.number not in kept:
                self._discard_model(t.number)

    def _discard_model(self, number: int) -> None:
        shutil.rmtree(self.trial_dir(number) / "model", ignore_errors=True)


def run_seconds(trial: Any) -> tuple[float, float]:
    """A finished trial's seconds and the seconds of them it spent filling the cache."""
    attrs = trial.user_attrs
    return float(attrs.get(TrialAttr.SECONDS) or 0.0), float(attrs.get(TrialAttr.FILL_SECONDS) or 0.0)


def scaled_rates(rec: Recommendation, factors: dict[str, float]) -> Recommendation:
    """The recommendation with every stage's `lr_head` / `lr_backbone` multiplied by `factors` (a
    diagnosis's retry: "accuracy drops after unfreezing → divide the learning rate by 10")."""
    if not factors:
        return rec
    stages = []
    for stage in rec.stages:
        update = {
            name: getattr(stage, name) * factor
            for name, factor in factors.items()
            if name in ("lr_head", "lr_backbone") and getattr(stage, name) is not None
        }
        stages.append(stage.model_copy(update=update))
    return rec.model_copy(update={"stages": stages})


def _is_oom(error: str | None) -> bool:
    """True for a trial that failed on memory: `torch.OutOfMemoryError`, or an "out of memory" message.

    Only the error's first line ("Type: message") is read; the traceback below it may quote anything.
    """
    if not error:
        return False
    first = error.splitlines()[0]
    return first.startswith("OutOfMemoryError") or "out of memory" in first.lower()
