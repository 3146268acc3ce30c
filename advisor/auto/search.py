"""`advisor auto` end to end: set-up (`setup.py`) → trials → finishing (`finish.py`) → report (`publish.py`).

This module runs the phases in order and owns the trial loop: the budget, the stop rules, the workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna

from advisor.auto.attrs import StudyAttr, TrialAttr
from advisor.auto.classical import ClassicalMember, fit_classical_member, left_out_note
from advisor.auto.config import TuneConfig
from advisor.auto.finish import finish_search
from advisor.auto.mobile import export_for_mobile
from advisor.auto.objective import Objective, SearchEvents, TrialFailed
from advisor.auto.progress import SilentProgress
from advisor.auto.publish import build_report, publish_report
from advisor.auto.report import Report
from advisor.auto.setup import SearchSetup, as_stored, initialise_study, prepare
from advisor.auto.stacking import store_classical
from advisor.auto.storage import storage_calls_finish_before_ctrl_c
from advisor.auto.study import FINISHED_STATES, finished_trials, open_study
from advisor.auto.trial_specs import augment_config
from advisor.auto.workers import start_local_workers, wait_for_workers
from advisor.engine.loader import load_rulebook
from advisor.engine.rulebook import RuleBook

if TYPE_CHECKING:
    from advisor.profiling.progress import Progress

# Proposals in a row that would not fit the budget before the search stops asking for more.
MAX_SKIPPED_IN_A_ROW = 5
# A study whose every trial failed with one identical error stops once it has this many of them.
REPEATED_FAILURES = 3


class SearchFailed(RuntimeError):
    """Every trial of the study failed with the same error: the search stopped; the message names the error."""


def repeated_failure(study: optuna.Study) -> str | None:
    """The error (first line) every finished trial of the study failed with, once there are `REPEATED_FAILURES`.

    None while any trial completed or was pruned, or while the failures differ.
    """
    trials = finished_trials(study)
    if len(trials) < REPEATED_FAILURES or any(t.state != optuna.trial.TrialState.FAIL for t in trials):
        return None
    errors = {
        (t.user_attrs.get(TrialAttr.ERROR) or t.system_attrs.get(TrialAttr.FAIL_REASON) or "").split("\n")[0]
        for t in trials
    }
    return errors.pop() if len(errors) == 1 else None


def _recording_folders(objective: Objective) -> Callable[[optuna.Trial], float]:
    """The objective, recording first where the trial writes its files (this process's --out)."""

    def run(trial: optuna.Trial) -> float:
        trial.set_user_attr(TrialAttr.TRIAL_DIR, str(objective.trial_dir(trial.number).resolve()))
        return objective(trial)

    return run


def _classical_member(
    config: TuneConfig, setup: SearchSetup, progress: Progress | None, clock: Callable[[], float]
) -> tuple[ClassicalMember | None, dict[str, float], list[str]]:
    """The classical member (TF-IDF, pixels), fitted before the trials so its seconds come off theirs;
    with its phase, named for it, if any, and the report's note when it was left out."""
    start = clock()
    member = fit_classical_member(config, setup.data, setup.split, progress)
    note = left_out_note(config, setup.split)
    return member, ({member.name: clock() - start} if member is not None else {}), [note] if note else []


@dataclass(frozen=True)
class _TrialsDone:
    """What the trial loop leaves for the finishing phase."""

    study: optuna.Study
    setup: SearchSetup
    objective: Objective
    classical: ClassicalMember | None
    classical_notes: list[str]
    interrupted: bool
    phases: dict[str, float]  # set-up's steps, the classical member's fit, the trials
    setup_seconds: float
    start: float


def run_search(
    config: TuneConfig,
    events: SearchEvents | None = None,
    book: RuleBook | None = None,
    events_factory: Any = None,
    clock: Callable[[], float] = time.monotonic,
    worker: int = 0,
    progress: Progress | None = None,
) -> Report:
    """Run (or resume, or join as a worker) the search described by `config`; write its report and model.

    Args:
        config: The search settings.
        events: Receives trial and epoch events (progress line, TUI); default: silent.
        book: Rules to use; default: the packaged ones.
        events_factory: Called with (n_blocks, deadline, notes) to build `events` once they are known;
            notes say what preparing the search found (backbone fallback, measured similarity).
        clock: Monotonic seconds; the budget is measured on it.
        worker: 0 for the process that owns the search (it starts `config.workers - 1` local
            workers, which run trials only: `join_trials`); the index of a joining worker otherwise.
        progress: Gets (stage, done, total) from the long steps outside the trials: reading the
            data, the frozen passes that measure it, scoring the test split.
    """
    done = _run_trials(config, events, book, events_factory, clock, worker, progress, finish=True)
    study, setup, objective = done.study, done.setup, done.objective
    config = setup.config
    finished = finish_search(
        study,
        objective,
        setup.data,
        setup.split,
        config.out / "model",
        clock,
        refit=not done.interrupted,
        classical=done.classical,
    )
    finished = finished.model_copy(update={"notes": [*done.classical_notes, *finished.notes]})
    phases = {**done.phases, "finish": finished.seconds}
    test_start = clock()
    report = build_report(study, setup, done.interrupted, objective, finished, done.setup_seconds, progress)
    phases["test"] = clock() - test_start
    test_inputs = [setup.data.inputs[i] for i in setup.split.test]
    report, onnx_phase = export_for_mobile(report, config, test_inputs, done.interrupted, clock)
    phases.update(onnx_phase)
    elapsed = float(study.user_attrs.get(StudyAttr.ELAPSED, 0.0)) + clock() - done.start
    if worker == 0:
        study.set_user_attr(StudyAttr.ELAPSED, elapsed)
    return publish_report(report, study, elapsed, phases)


def join_trials(
    config: TuneConfig,
    worker: int,
    events_factory: Any = None,
    clock: Callable[[], float] = time.monotonic,
    progress: Progress | None = None,
) -> tuple[int, bool]:
    """Run trials of the study as worker `worker` until the budget or the trial limit stops them, and
    leave the finishing phase (refit, export, report) to the run that started the study: what the
    local workers of `advisor auto --workers N` do, so that the run ends when its budget does and
    the model is refitted and scored once. Returns (trials this worker finished, interrupted)."""
    done = _run_trials(config, None, None, events_factory, clock, worker, progress, finish=False)
    mine = [t for t in finished_trials(done.study) if t.user_attrs.get(TrialAttr.WORKER) == worker]
    return len(mine), done.interrupted


def _run_trials(
    config: TuneConfig,
    events: SearchEvents | None,
    book: RuleBook | None,
    events_factory: Any,
    clock: Callable[[], float],
    worker: int,
    progress: Progress | None,
    finish: bool,
) -> _TrialsDone:
    """Set-up, the classical member (when this process will finish the study) and the trial loop,
    with the local workers the owner starts (`run_search`'s arguments)."""
    import runners

    start = clock()
    deadline = start + config.budget_minutes * 60
    book = book or load_rulebook()
    runner = runners.get_runner(config.data_modality, num_threads=config.num_threads)
    setup = prepare(config, book, runner, progress)
    config = setup.config  # with the measured similarity and backbone, when they were measured
    # Every trial loads the data and builds the model again, as `prepare` just did: a budget that
    # cannot cover that once more cannot finish a single epoch.
    setup_seconds = clock() - start
    # Every process that finishes the study weighs the classical member in its ensemble; one that
    # runs trials only reads its out-of-fold rows from the study (`store_classical`).
    classical, classical_phase, classical_notes = (
        _classical_member(config, setup, progress, clock) if finish else (None, {}, [])
    )
    if events is None:
        setup_notes = [note for note in (setup.backbone_note, setup.similarity_note) if note]
        events = events_factory(setup.space.n_blocks, deadline, setup_notes) if events_factory else SilentProgress()
    study = open_study(config, setup.space.max_total_epochs, worker)
    if not study.get_trials(deepcopy=False):
        initialise_study(study, config, setup)
    store_classical(study, classical)
    setup = as_stored(study, setup)
    objective = Objective(
        config=config,
        space=setup.space,
        book=book,
        runner=runner,
        backbone=setup.backbone,
        deadline=deadline,
        events=events,
        n_examples=setup.profile.n_examples,
        augment=augment_config(setup.recommendation, config.data_modality),
        recommendation=setup.recommendation,
        price=setup.price,
        clock=clock,
        worker=worker,
        split_sizes=(len(setup.split.train), len(setup.split.val), len(setup.split.test)),
        classical_read_seconds=classical.read_seconds if classical is not None else 0.0,
        classical_refit_seconds=classical.refit_seconds if classical is not None else 0.0,
    )

    def stop_when_spent(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
        # No time left for even the cheapest trial (a head fit), or the sampler keeps proposing trials that do not fit.
        if objective.time_left() <= objective.cost.overhead() or objective.skipped_in_a_row >= MAX_SKIPPED_IN_A_ROW:
            study.stop()

    failed_alike: list[str] = []

    def stop_when_every_trial_fails_alike(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
        error = repeated_failure(study)
        if error is not None:
            failed_alike.append(error)
            study.stop()

    callbacks: list[Any] = [stop_when_spent, stop_when_every_trial_fails_alike]
    if config.trials is not None:
        # Counted over the whole study, so resumed runs and parallel workers share one total.
        callbacks.append(optuna.study.MaxTrialsCallback(config.trials, states=FINISHED_STATES))
    # The local workers end their trials when this run does: they get what is left of its budget.
    local_workers = start_local_workers(config, (deadline - clock()) / 60) if worker == 0 else []
    interrupted = False
    try:
        enough_time = objective.time_left() > 0
        if (config.trials is None or len(finished_trials(study)) < config.trials) and enough_time:
            with storage_calls_finish_before_ctrl_c():  # never between a write and its commit
                study.optimize(
                    _recording_folders(objective), catch=(TrialFailed,), callbacks=callbacks, gc_after_trial=True
                )
    except KeyboardInterrupt:
        interrupted = True
    finally:
        wait_for_workers(local_workers, stop=interrupted or bool(failed_alike))
    if failed_alike:
        n = len(finished_trials(study))
        raise SearchFailed(f"search stopped: all {n} trials failed with the same error: {failed_alike[-1]}")
    # Set-up's long steps on their own, then the rest of it (rules, model build, study); they add up to the whole.
    phases = {**setup.seconds, "setup": setup_seconds - sum(setup.seconds.values()), **classical_phase}
    phases["trials"] = clock() - start - setup_seconds - sum(classical_phase.values())
    return _TrialsDone(
        study=study,
        setup=setup,
        objective=objective,
        classical=classical,
        classical_notes=classical_notes,
        interrupted=interrupted,
        phases=phases,
        setup_seconds=setup_seconds,
        start=start,
    )
