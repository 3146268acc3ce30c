"""Every key the search stores in an Optuna study or trial, in one place.

Study keys carry the search's settings to workers and resumed runs; trial keys carry what a trial
did to the selection, the diagnoses and the report. They are plain strings (what the storage keeps);
the classes are namespaces only.
"""

from __future__ import annotations

from typing import Final


class StudyAttr:
    """`study.user_attrs` keys."""

    CONFIG: Final = "advisor_config"
    SPACE: Final = "advisor_space"
    RECOMMENDATION: Final = "advisor_recommendation"
    # The creating run's measuring pass (`advisor.auto.budget.PassPrice`): a joining worker's first prices.
    PASS_PRICE: Final = "advisor_pass_price"
    ELAPSED: Final = "advisor_elapsed_seconds"
    # The classical member's out-of-fold rows (`stacking.store_classical`): every process's bar for a fine-tuned trial.
    CLASSICAL_OOF: Final = "advisor_classical_oof"
    # "retried:<mistake id>" once that mistake's variant is queued (the study retries each mistake once).
    RETRIED: Final = "retried"
    # "test_score_of_<model key>": a model's confusion matrix on the test split, scored once.
    TEST_SCORE_OF: Final = "test_score_of_"


class TrialAttr:
    """`trial.user_attrs` keys (and the one Optuna system key the report reads)."""

    # set when the trial is enqueued or starts
    RULE_PLAN: Final = "rule_plan"
    RETRY_OF: Final = "retry_of"
    # A head fit of the sweep enqueued after the rule plan: a finite queue, so one the budget refuses
    # does not count toward the streak of refusals that ends the search.
    SWEEP: Final = "sweep"
    TRIAL_DIR: Final = "trial_dir"
    WORKER: Final = "worker"
    PLAN: Final = "plan"
    STAGES: Final = "stages"
    SKIPPED_BY_BUDGET: Final = "skipped_by_budget"
    OOM_RETRY_BATCH_SIZE: Final = "oom_retry_batch_size"
    # what the run gave
    CURVE: Final = "curve"
    STATUS: Final = "status"
    SECONDS: Final = "seconds"
    STAGE_SECONDS: Final = "stage_seconds"
    N_SKIPPED_FILES: Final = "n_skipped_files"
    BACKBONE_FALLBACK: Final = "backbone_fallback"
    STAGE_GAINS: Final = "stage_gains"
    OBSERVATION: Final = "observation"
    DIAGNOSES: Final = "diagnoses"
    ERROR: Final = "error"
    PRUNED_AT_EPOCH: Final = "pruned_at_epoch"
    STOPPED_BY_BUDGET: Final = "stopped_by_budget"
    # Stages the trial did not run: the stage before them added under the guide's 1%.
    SKIPPED_STAGES: Final = "skipped_stages"
    VAL_ACCURACY: Final = "val_accuracy"
    VAL_LOSS: Final = "val_loss"
    VAL_PROBS: Final = "val_probabilities"
    VAL_LABELS: Final = "val_labels"
    # Seconds the trial spent filling the cache (a refit reads what it filled).
    FILL_SECONDS: Final = "fill_seconds"
    # Seconds per example of the trial's cache fill, and the block boundary it stopped at.
    FILL_SECONDS_PER_EXAMPLE: Final = "fill_seconds_per_example"
    FILL_BOUNDARY: Final = "fill_boundary"
    SELECTION: Final = "selection"
    CV_ACCURACY: Final = "cv_accuracy"
    CV_STDERR: Final = "cv_stderr"
    CV_LOG_LOSS: Final = "cv_log_loss"
    # Out-of-fold probabilities of a head-only trial over train + validation, and their labels.
    CV_PROBS: Final = "cv_probabilities"
    CV_LABELS: Final = "cv_labels"
    # Optuna's own system attribute: why a trial failed (a stale heartbeat, for one)
    FAIL_REASON: Final = "fail_reason"
