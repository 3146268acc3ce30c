"""Publishing a search: the report from whatever the study holds (the exported model scored on the
test split), then `report.json`, `report.md`, the plots and `report.html`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import optuna

from advisor.auto.attrs import StudyAttr, TrialAttr
from advisor.auto.diagnosis import final_diagnoses
from advisor.auto.finish import EnsembleMember, Finished, trial_folder
from advisor.auto.html_report import write_html
from advisor.auto.objective import Objective
from advisor.auto.plots import write_plots
from advisor.auto.promise import plan_promise
from advisor.auto.report import BestTrial, Report, trial_record, write_markdown
from advisor.auto.setup import SearchSetup
from advisor.auto.space import TrialPlan
from advisor.auto.storage import redact
from advisor.auto.study import ranked_trials
from advisor.profiling.progress import Progress, staged
from runners.specs import Confusion
from runners.views import VIEW_SETS

if TYPE_CHECKING:
    from advisor.auto.config import TuneConfig
    from runners.runner import Runner


# The searched winner's own test score may run this share of the budget past the deadline.
SCORE_SLACK = 0.01


def build_report(
    study: optuna.Study,
    setup: SearchSetup,
    interrupted: bool,
    objective: Objective,
    finished: Finished,
    setup_seconds: float = 0.0,
    progress: Progress | None = None,
) -> Report:
    """Build the report from whatever the study holds, scoring the exported model on the test split
    (`progress` gets ("scoring the test split…", done, total) as it goes)."""
    config = setup.config
    waiting = optuna.trial.TrialState.WAITING
    trials = [t for t in study.get_trials(deepcopy=False) if t.state != waiting]
    verdicts = final_diagnoses(trials, objective.book.mistakes)  # relative ones need the whole study
    records = [trial_record(t, verdicts.get(t.number)) for t in trials]
    ranked = ranked_trials(study)
    best = ranked[0] if ranked else None
    # The selected trial is the best-scored one the exported model holds: out-of-fold ensemble
    # selection may leave the best single score out (its heaviest trial member stands in then).
    held = [m for m in finished.members if m.trial is not None]
    if best is not None and held and best.number not in {m.trial for m in held}:
        heaviest = max(held, key=lambda m: m.weight)
        best = next((t for t in ranked if t.number == heaviest.trial), best)
    baseline = next((r for r in records if r.rule_plan), None)
    model_dir = finished.model_dir
    test_score: Confusion | None = None
    searched_test = per_example = None
    skipped_note: str | None = None
    members = finished.members
    if best is not None and model_dir is not None:
        start = time.perf_counter()
        key = "model_" + "_".join(f"{m.name}{'r' if m.refit else ''}{m.weight:.3f}" for m in finished.members)
        test_score = _test_score(study, key, setup, objective.runner, model_dir, progress, "the exported model")
        if setup.split.test:
            per_example = (time.perf_counter() - start) / len(setup.split.test)
        members = with_test_accuracy(finished.members, test_score)
        # An ensemble member exported as searched (not refit) is the trial's own model: its test pass is done.
        as_searched = next((m for m in members if m.trial == best.number and not m.refit), None)
        searched = trial_folder(best, objective) / "model"
        plain = len(finished.members) == 1 and not finished.members[0].refit
        if as_searched is not None and as_searched.test_accuracy is not None:
            searched_test = as_searched.test_accuracy
        elif not plain and searched.is_dir():
            # A comparison, not the result: scored only when the budget still holds its test pass.
            cost = scoring_seconds(best, objective, len(setup.split.test))
            left = objective.deadline - objective.clock()
            if cost <= left + SCORE_SLACK * config.budget_minutes * 60:
                searched_score = _test_score(
                    study, f"trial_{best.number}", setup, objective.runner, searched, progress, f"trial {best.number}"
                )
                searched_test = searched_score.accuracy if searched_score is not None else None
            else:
                skipped_note = (
                    f"Trial {best.number}'s own model (no refit, no ensemble) was not scored on the test split: "
                    f"~{cost:.0f} s, {max(left, 0):.0f} s of the budget were left."
                )
    setup.split.save(config.out / "split.json", setup.data)
    notes = [note for note in (setup.backbone_note, setup.similarity_note, skipped_note) if note] + list(finished.notes)
    views_note = _views_note(config, trials, finished)
    if views_note:
        notes.append(views_note)
    if best is None:
        notes.append(
            f"The budget ({config.budget_minutes:g} min) was too small for even one trial (loading the data and "
            f"building the model alone took {setup_seconds:.0f} s): the rule plan is the recommendation."
        )
    skipped = max((t.user_attrs.get(TrialAttr.N_SKIPPED_FILES, 0) for t in study.get_trials(deepcopy=False)), default=0)
    if skipped:
        notes.append(f"{skipped} unreadable file(s) were skipped in every trial.")
    improvement = None
    if best is not None and baseline is not None and baseline.value is not None and best.value is not None:
        improvement = best.value - baseline.value
    plan = next((t for t in study.get_trials(deepcopy=False) if t.user_attrs.get(TrialAttr.RULE_PLAN)), None)
    promise = plan_promise(
        setup.recommendation,
        plan_trial=plan.number if plan else None,
        plan_val=plan.user_attrs.get(TrialAttr.VAL_ACCURACY) if plan else None,
        plan_seconds=plan.user_attrs.get(TrialAttr.SECONDS) if plan else None,
        plan_curve=list(plan.user_attrs.get(TrialAttr.CURVE, [])) if plan else [],
        best_trial=best.number if best else None,
        best_val=best.user_attrs.get(TrialAttr.VAL_ACCURACY) if best else None,
        plan_skipped=int(plan.user_attrs.get(TrialAttr.SKIPPED_STAGES, 0)) if plan else 0,
    )
    test_accuracy = test_score.accuracy if test_score is not None else None
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
            selection=best.user_attrs.get(TrialAttr.SELECTION, "validation"),
            stderr=best.user_attrs.get(TrialAttr.CV_STDERR),
            val_accuracy=best.user_attrs.get(TrialAttr.VAL_ACCURACY),
        ),
        baseline=baseline,
        improvement_over_baseline=improvement,
        test_accuracy=test_accuracy,
        test_confusion=test_score,
        ensemble=members,
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


def scoring_seconds(trial: optuna.trial.FrozenTrial, objective: Objective, n_test: int) -> float:
    """Seconds a trial's own model takes over `n_test` examples: a frozen pass per dihedral view it
    predicts on (priced as one, a head on the 4 rotations ran ELPV 4 grades 3.2% past its budget)."""
    views = TrialPlan.model_validate(trial.user_attrs[TrialAttr.PLAN]).dihedral_views
    return (objective.cost.forward_per_example or 0.0) * n_test * views


def _views_note(config: TuneConfig, trials: list[optuna.trial.FrozenTrial], finished: Finished) -> str | None:
    """What the trials on dihedral views did, and whether the exported model predicts on them; None when none ran."""
    on_views = {
        t.number: TrialPlan.model_validate(t.user_attrs[TrialAttr.PLAN]).dihedral_views
        for t in trials
        if TrialAttr.PLAN in t.user_attrs
    }
    on_views = {n: v for n, v in on_views.items() if v > 1}
    if not on_views:
        return None
    fitted = "; ".join(
        f"{_trials(sorted(n for n, v in on_views.items() if v == count))} on {VIEW_SETS[count]}"
        for count in sorted(set(on_views.values()))
    )
    held = sorted(m.trial for m in finished.members if m.trial in on_views)
    exported = (
        f"the exported model's {_trials(held)} predict{'' if len(held) > 1 else 's'} on them"
        if held
        else "the exported model holds none of them and predicts on each image as it is"
    )
    return (
        f"Dihedral views (`--dihedral-views {config.dihedral_views}`): head-only trials fitted their head on "
        f"every training image's views and scored each image on the mean of its views' probabilities ({fitted}); "
        f"{exported}. The other trials trained and scored on the images as they are."
    )


def _trials(numbers: list[int]) -> str:
    """ "trial 5" or "trials 5, 6, 7"."""
    return f"trial{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))}"


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
    write_html(report, write_plots(study, report, out), out / "report.html")
    return report


def with_test_accuracy(members: list[EnsembleMember], score: Confusion | None) -> list[EnsembleMember]:
    """The exported members with their own test accuracy, where the export's test pass scored them
    (an ensemble's members; a single model's is the export's own)."""
    if score is None or not score.members:
        return members
    return [
        m.model_copy(update={"test_accuracy": score.members[m.name].accuracy}) if m.name in score.members else m
        for m in members
    ]


def _test_score(
    study: optuna.Study,
    key: str,
    setup: SearchSetup,
    runner: Runner,
    model_dir: Path,
    progress: Progress | None = None,
    what: str = "the model",
) -> Confusion | None:
    """An exported model's confusion matrix on the held-out test split, which no trial has seen.

    Scored once per model (kept in the study under `key`, so a resumed search whose result did not
    change does not score it again).
    """
    import torch

    attr = f"{StudyAttr.TEST_SCORE_OF}{key}"
    if attr in study.user_attrs:
        return Confusion.model_validate(study.user_attrs[attr])
    rows = setup.split.test
    if not rows:
        return None
    device = "cuda" if setup.config.device != "cpu" and torch.cuda.is_available() else "cpu"
    score = runner.score_saved(
        model_dir,
        [setup.data.inputs[i] for i in rows],
        [setup.data.labels[i] for i in rows],
        device=device,
        progress=staged(progress, f"scoring {what} on the test split"),
    )
    study.set_user_attr(attr, score.model_dump(mode="json"))
    return score
