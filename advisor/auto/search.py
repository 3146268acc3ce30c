"""`advisor auto` end to end: profile → recommendation → search space → trials → report and model."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from pydantic import BaseModel, ConfigDict, Field

from advisor.auto.config import TuneConfig
from advisor.auto.diagnosis import final_diagnoses
from advisor.auto.finish import TRIAL_DIR_ATTR, Finished, finish_search, ranked_trials, trial_folder
from advisor.auto.objective import RULE_PLAN_ATTR, Objective, SearchEvents, TrialFailed
from advisor.auto.plots import write_plots
from advisor.auto.progress import SilentProgress
from advisor.auto.promise import plan_promise
from advisor.auto.report import BestTrial, Report, trial_record, write_markdown
from advisor.auto.space import HEAD_C_DEFAULT, HEAD_C_PROBES, SearchSpace, TrialPlan, rule_plan_params, space_for
from advisor.auto.storage import redact
from advisor.auto.study import (
    CONFIG_ATTR,
    FINISHED_STATES,
    RECOMMENDATION_ATTR,
    SPACE_ATTR,
    finished_trials,
    open_study,
)
from advisor.auto.trial_specs import augment_config, trial_spec
from advisor.auto.workers import start_local_workers, wait_for_workers
from advisor.engine.loader import RuleBook, load_rulebook
from advisor.engine.recommend import recommend
from advisor.profile import DatasetProfile
from advisor.recommendation import Recommendation

ELAPSED_ATTR = "advisor_elapsed_seconds"
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
    errors = {(t.user_attrs.get("error") or t.system_attrs.get("fail_reason") or "").split("\n")[0] for t in trials}
    return errors.pop() if len(errors) == 1 else None


class SearchSetup(BaseModel):
    """What a search needs before its first trial: profile, plan, backbone, space (the study keeps the space)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    config: TuneConfig
    profile: DatasetProfile
    recommendation: Recommendation
    backbone: str
    backbone_note: str | None
    similarity_note: str | None = None
    space: SearchSpace
    data: Any = Field(exclude=True, repr=False, description="The runners' LabelledData, loaded once.")
    forward_seconds_per_example: float | None = Field(
        None, description="What the measuring frozen pass took per example: the budget's price before any trial."
    )
    split: Any = Field(exclude=True, repr=False, description="The runners' Split every trial uses.")


def profile_for_search(config: TuneConfig, runner: Any) -> tuple[DatasetProfile, Any]:
    """Count the labelled examples the runner will see (unreadable files are skipped, as in trials)."""
    import torch

    from runners import AugmentConfig

    plan = TrialPlan(trainable_blocks=0, head_c=HEAD_C_DEFAULT)
    probe = trial_spec(plan, config, "probe", config.out, augment=AugmentConfig())
    data = runner.load_data_cached(probe)
    counts = Counter(data.labels)
    profile = DatasetProfile(
        modality=config.data_modality,
        n_examples=len(data.labels),
        n_classes=len(counts),
        smallest_class=min(counts.values()),
        largest_class=max(counts.values()),
        similarity=config.similarity or "similar",
        priority=config.priority,
        hardware="gpu" if config.device != "cpu" and torch.cuda.is_available() else "cpu",
    )
    return profile, data


def prepare(config: TuneConfig, book: RuleBook, runner: Any) -> SearchSetup:
    """Profile the data, ask the rules for a plan, resolve the backbone and derive the search space."""
    from runners import resolve_backbone

    profile, data = profile_for_search(config, runner)
    rec = recommend(profile, rules=book)
    requested = config.backbone or rec.backbone.model_id
    choice = resolve_backbone(requested, config.data_modality, config.weights)
    note = choice.fallback_reason
    similarity_note = None
    measured, forward = measure_for_search(config, book, data, choice, runner)
    if measured is not None:
        from advisor.profiling.apply import recommend_measured, similarity_reason

        profile = profile.model_copy(update={"similarity": measured.similarity.level})
        rec = recommend_measured(profile, measured, rules=book)
        if config.backbone is None and measured.chosen_backbone != choice.name:
            choice = resolve_backbone(measured.chosen_backbone, config.data_modality, config.weights)
            note = None
        reason = similarity_reason(measured.similarity)
        similarity_note = f"Similarity measured as '{measured.similarity.level}'. {reason.reason if reason else ''}"
        # Workers and resumed runs read the stored config: they reuse the answers instead of measuring again.
        config = config.model_copy(update={"similarity": measured.similarity.level, "backbone": choice.name})
    n_blocks = runner.n_blocks(choice.name, config.weights)
    space = space_for(rec, book, n_blocks, config.max_epochs_per_stage)
    from runners.data.splits import stratified_split

    return SearchSetup(
        split=stratified_split(data, config.split_fractions, config.seed),
        config=config,
        profile=profile,
        recommendation=rec,
        backbone=choice.name,
        backbone_note=note,
        similarity_note=similarity_note,
        space=space,
        data=data,
        forward_seconds_per_example=forward,
    )


def measure_for_search(
    config: TuneConfig, book: RuleBook, data: Any, choice: Any, runner: Any
) -> tuple[Any, float | None]:
    """Measured similarity and backbone fit for a search whose similarity was not given, else None;
    with the seconds per example the frozen pass took, when it made one (the budget's first price).

    Random weights have nothing to measure against. With an explicit backbone only that one is
    measured, in the pass that fills the activation cache for the rule plan's head-only stage
    (`Runner.frozen_pass`), so it costs the search no extra forward pass. When the guide's pick fell
    back to the offline zoo, every backbone loadable offline (zoo and hub cache) is ranked on a
    sample (one extra pass each).
    """
    if config.similarity is not None or not config.measure_similarity or choice.weights_source == "random":
        return None, None
    from advisor.profiling import candidate_backbones, measure_sample

    if config.backbone is None and choice.fallback_reason:  # the guide's pick is not loadable here
        candidates = candidate_backbones(config.data_modality, None, book)
    else:
        candidates = [config.backbone or choice.name]
    frozen = None
    if len(candidates) == 1 and config.cache:
        from runners import AugmentConfig

        plan = TrialPlan(trainable_blocks=0, head_c=HEAD_C_DEFAULT)
        spec = trial_spec(plan, config, candidates[0], config.out, augment=AugmentConfig()).model_copy(
            update={"output_dir": None}
        )
        frozen = runner.frozen_pass(spec)
    forward = frozen.seconds / len(frozen.labels) if frozen is not None and frozen.labels else None
    return measure_sample(
        list(data.inputs),
        list(data.labels),
        config.data_modality,
        candidates,
        book,
        priority=config.priority,
        device=config.device,
        max_length=config.max_length,
        weights=config.weights,
        frozen=frozen,
    ), forward


def _recording_folders(objective: Objective) -> Callable[[optuna.Trial], float]:
    """The objective, recording first where the trial writes its files (this process's --out)."""

    def run(trial: optuna.Trial) -> float:
        trial.set_user_attr(TRIAL_DIR_ATTR, str(objective.trial_dir(trial.number).resolve()))
        return objective(trial)

    return run


def _initialise_study(study: optuna.Study, config: TuneConfig, setup: SearchSetup) -> None:
    """A new study: store its settings, space and recommendation; enqueue the rule plan and the head probes."""
    # The storage URL may hold a password: workers bring their own instead of reading it here.
    study.set_user_attr(CONFIG_ATTR, config.model_dump(mode="json", exclude={"storage"}))
    study.set_user_attr(SPACE_ATTR, setup.space.model_dump(mode="json"))
    study.set_user_attr(RECOMMENDATION_ATTR, setup.recommendation.model_dump(mode="json"))
    if not config.enqueue_rule_plan:
        return
    study.enqueue_trial(rule_plan_params(setup.recommendation, setup.space), user_attrs={RULE_PLAN_ATTR: True})
    # Head fits cost seconds once the features are cached: a few strengths across the range
    # teach the sampler where the head-only optimum lies before it spends minutes on fine-tuning.
    for c in HEAD_C_PROBES:
        probe: dict[str, Any] = {"trainable_blocks": 0, "head_c": c}
        if setup.space.imbalanced:
            probe["class_weights"] = "off"  # the rule plan tried the guide's weighting
        study.enqueue_trial(probe, skip_if_exists=True)


def _as_stored(study: optuna.Study, setup: SearchSetup) -> SearchSetup:
    """Whoever created the study fixed the search space and the recommendation the rule plan runs;
    a joining worker or a resumed run uses those, so every trial of a study agrees."""
    update: dict[str, Any] = {}
    if SPACE_ATTR in study.user_attrs:
        update["space"] = SearchSpace.model_validate(study.user_attrs[SPACE_ATTR])
    if RECOMMENDATION_ATTR in study.user_attrs:
        update["recommendation"] = Recommendation.model_validate(study.user_attrs[RECOMMENDATION_ATTR])
    return setup.model_copy(update=update)


def run_search(
    config: TuneConfig,
    events: SearchEvents | None = None,
    book: RuleBook | None = None,
    events_factory: Any = None,
    clock: Callable[[], float] = time.monotonic,
    worker: int = 0,
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
            workers); the index of a joining worker otherwise.
    """
    import runners

    start = clock()
    deadline = start + config.budget_minutes * 60
    book = book or load_rulebook()
    runner = runners.get_runner(config.data_modality, num_threads=config.num_threads)
    setup = prepare(config, book, runner)
    config = setup.config  # with the measured similarity and backbone, when they were measured
    # Every trial loads the data and builds the model again, as `prepare` just did: a budget that
    # cannot cover that once more cannot finish a single epoch.
    setup_seconds = clock() - start
    if events is None:
        setup_notes = [note for note in (setup.backbone_note, setup.similarity_note) if note]
        events = events_factory(setup.space.n_blocks, deadline, setup_notes) if events_factory else SilentProgress()
    study = open_study(config, setup.space.max_total_epochs, worker)
    if not study.get_trials(deepcopy=False):
        _initialise_study(study, config, setup)
    setup = _as_stored(study, setup)
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
        forward_prior=setup.forward_seconds_per_example,
        clock=clock,
        worker=worker,
        split_sizes=(len(setup.split.train), len(setup.split.val), len(setup.split.test)),
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
    local_workers = start_local_workers(config) if worker == 0 else []
    interrupted = False
    try:
        enough_time = objective.time_left() > 0
        if (config.trials is None or len(finished_trials(study)) < config.trials) and enough_time:
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
    phases = {"setup": setup_seconds, "trials": clock() - start - setup_seconds}
    finished = finish_search(
        study, objective, setup.data, setup.split, config.out / "model", clock, refit=not interrupted
    )
    phases["finish"] = finished.seconds
    test_start = clock()
    report = finish(study, setup, interrupted, objective, finished, setup_seconds)
    phases["test"] = clock() - test_start
    elapsed = float(study.user_attrs.get(ELAPSED_ATTR, 0.0)) + clock() - start
    if worker == 0:
        study.set_user_attr(ELAPSED_ATTR, elapsed)
    return publish_report(report, study, elapsed, phases)


def finish(
    study: optuna.Study,
    setup: SearchSetup,
    interrupted: bool,
    objective: Objective,
    finished: Finished,
    setup_seconds: float = 0.0,
) -> Report:
    """Build the report from whatever the study holds, scoring the exported model on the test split."""
    config = setup.config
    waiting = optuna.trial.TrialState.WAITING
    trials = [t for t in study.get_trials(deepcopy=False) if t.state != waiting]
    verdicts = final_diagnoses(trials, objective.book.mistakes)  # relative ones need the whole study
    records = [trial_record(t, verdicts.get(t.number)) for t in trials]
    ranked = ranked_trials(study)
    best = ranked[0] if ranked else None
    baseline = next((r for r in records if r.rule_plan), None)
    model_dir = finished.model_dir
    test_accuracy = searched_test = per_example = None
    if best is not None and model_dir is not None:
        start = time.perf_counter()
        key = "model_" + "_".join(f"{m.name}{'r' if m.refit else ''}{m.weight:.3f}" for m in finished.members)
        test_accuracy = _test_accuracy(study, key, setup, objective.runner, model_dir)
        if setup.split.test:
            per_example = (time.perf_counter() - start) / len(setup.split.test)
        searched = trial_folder(best, objective) / "model"
        plain = len(finished.members) == 1 and not finished.members[0].refit
        if not plain and searched.is_dir():
            searched_test = _test_accuracy(study, f"trial_{best.number}", setup, objective.runner, searched)
    setup.split.save(config.out / "split.json", setup.data)
    notes = [note for note in (setup.backbone_note, setup.similarity_note) if note] + list(finished.notes)
    if best is None:
        notes.append(
            f"The budget ({config.budget_minutes:g} min) was too small for even one trial (loading the data and "
            f"building the model alone took {setup_seconds:.0f} s): the rule plan is the recommendation."
        )
    skipped = max((t.user_attrs.get("n_skipped_files", 0) for t in study.get_trials(deepcopy=False)), default=0)
    if skipped:
        notes.append(f"{skipped} unreadable file(s) were skipped in every trial.")
    improvement = None
    if best is not None and baseline is not None and baseline.value is not None and best.value is not None:
        improvement = best.value - baseline.value
    plan = next((t for t in study.get_trials(deepcopy=False) if t.user_attrs.get(RULE_PLAN_ATTR)), None)
    promise = plan_promise(
        setup.recommendation,
        plan_trial=plan.number if plan else None,
        plan_val=plan.user_attrs.get("val_accuracy") if plan else None,
        plan_seconds=plan.user_attrs.get("seconds") if plan else None,
        plan_curve=list(plan.user_attrs.get("curve", [])) if plan else [],
        best_trial=best.number if best else None,
        best_val=best.user_attrs.get("val_accuracy") if best else None,
    )
    return Report(
        study_name=config.study_name,
        storage=redact(config.storage_url),
        data=str(config.data),
        modality=config.data_modality,
        backbone=setup.backbone,
        backbone_note=setup.backbone_note,
        n_blocks=setup.space.n_blocks,
        recommendation={
            "strategy": setup.recommendation.strategy,
            "trainable_fraction": setup.recommendation.trainable_fraction,
            "backbone": setup.recommendation.backbone.model_id,
            "rules": [r.rule for r in setup.recommendation.rationale],
        },
        promise=promise,
        best=None
        if best is None or best.value is None
        else BestTrial(
            number=best.number,
            value=best.value,
            params=best.params,
            test_accuracy=searched_test if searched_test is not None else test_accuracy,
            selection=best.user_attrs.get("selection", "validation"),
            stderr=best.user_attrs.get("cv_stderr"),
            val_accuracy=best.user_attrs.get("val_accuracy"),
        ),
        baseline=baseline,
        improvement_over_baseline=improvement,
        test_accuracy=test_accuracy,
        ensemble=finished.members,
        ensemble_val_accuracy=finished.ensemble_val_accuracy,
        prediction_seconds_per_example=per_example,
        n_trials=len(records),
        n_complete=sum(r.state == "COMPLETE" for r in records),
        n_pruned=sum(r.state == "PRUNED" for r in records),
        n_failed=sum(r.state == "FAIL" for r in records),
        elapsed_seconds=0.0,
        budget_minutes=config.budget_minutes,
        out_dir=str(config.out),
        interrupted=interrupted,
        model_dir=str(model_dir) if model_dir else None,
        notes=notes,
        trials=records,
    )


def publish_report(report: Report, study: optuna.Study, elapsed: float, phases: dict[str, float]) -> Report:
    """Write `report.json`, `report.md` and the plots, with the run's wall time and its phases."""
    budget = report.budget_minutes * 60
    report = report.model_copy(
        update={
            "elapsed_seconds": round(elapsed, 1),
            "phase_seconds": {name: round(seconds, 1) for name, seconds in phases.items()},
            "overshoot": round(elapsed / budget - 1, 4),
        }
    )
    out = Path(report.out_dir)
    (out / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
    write_markdown(report, out / "report.md")
    write_plots(study, report, out)
    return report


def _test_accuracy(study: optuna.Study, key: str, setup: SearchSetup, runner: Any, model_dir: Path) -> float | None:
    """Accuracy of an exported model on the held-out test split, which no trial has seen.

    Scored once per model (kept in the study under `key`, so a resumed search whose result did not
    change does not score it again).
    """
    import torch

    attr = f"test_accuracy_of_{key}"
    if attr in study.user_attrs:
        return float(study.user_attrs[attr])
    rows = setup.split.test
    if not rows:
        return None
    device = "cuda" if setup.config.device != "cpu" and torch.cuda.is_available() else "cpu"
    accuracy = runner.score_saved(
        model_dir, [setup.data.inputs[i] for i in rows], [setup.data.labels[i] for i in rows], device=device
    )
    study.set_user_attr(attr, accuracy)
    return accuracy
