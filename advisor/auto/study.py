"""Optuna study plumbing: storage, pruner registry, and the settings stored with the study."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol, TypeVar

import optuna

from advisor.auto.attrs import TrialAttr
from advisor.auto.config import PrunerName, TuneConfig
from advisor.auto.space import TrialPlan
from advisor.auto.storage import make_storage


def _hyperband(max_epochs: int) -> optuna.pruners.BasePruner:
    return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs, reduction_factor=3)


def _successive_halving(max_epochs: int) -> optuna.pruners.BasePruner:
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)


def _median(max_epochs: int) -> optuna.pruners.BasePruner:
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)


def _none(max_epochs: int) -> optuna.pruners.BasePruner:
    return optuna.pruners.NopPruner()


PRUNERS: dict[PrunerName, Callable[[int], optuna.pruners.BasePruner]] = {
    "hyperband": _hyperband,
    "successive_halving": _successive_halving,
    "median": _median,
    "none": _none,
}


def make_pruner(name: PrunerName, max_epochs: int) -> optuna.pruners.BasePruner:
    """The pruner registered under `name`; `max_epochs` is the longest a trial can report."""
    if name not in PRUNERS:
        raise ValueError(f"unknown pruner {name!r}; choose one of {sorted(PRUNERS)}")
    return PRUNERS[name](max_epochs)


def open_study(config: TuneConfig, max_epochs: int, worker: int = 0) -> optuna.Study:
    """Create the study, or load it when it exists (that is how a second run, or a worker, joins).

    Args:
        config: The search settings (storage, study name, pruner, seed).
        max_epochs: The longest a trial can report, for the pruner.
        worker: Index of this worker; it offsets the sampler's seed so workers do not propose
            the same configurations.

    Raises:
        StorageError: the storage cannot be opened.
    """
    config.out.mkdir(parents=True, exist_ok=True)
    storage = make_storage(config.storage_url, config.heartbeat_seconds, config.grace_seconds)
    return optuna.create_study(
        study_name=config.study_name,
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=config.seed + 7919 * worker, n_startup_trials=5),
        pruner=make_pruner(config.pruner, max_epochs),
        load_if_exists=True,
    )


FINISHED_STATES = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=FINISHED_STATES)


def selection_key(value: float | None, attrs: Mapping[str, Any], number: int) -> tuple[float, float, int]:
    """How trials rank, best first when sorted descending: selection score, then lower validation loss, then earlier."""
    loss = attrs.get(TrialAttr.VAL_LOSS)
    return (value if value is not None else -1.0, -(loss if loss is not None else math.inf), -number)


def ranked_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Complete trials, best first (`selection_key`)."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return sorted(complete, key=lambda t: selection_key(t.value, t.user_attrs, t.number), reverse=True)


class _WithAttrs(Protocol):
    @property
    def user_attrs(self) -> dict[str, Any]: ...


_T = TypeVar("_T", bound=_WithAttrs)


FINE_TUNED: Final = ("fine-tuned",)
"""`trial_kind` of every trial that trains backbone blocks."""


def trial_kind(attrs: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a trial's model is, for the ensemble's candidates: fine-tuned, or a head-only fit of one
    kernel on one set of features and views (heads that differ in strength alone are near-duplicates)."""
    plan = TrialPlan.model_validate(attrs[TrialAttr.PLAN])
    if plan.trainable_blocks > 0:
        return FINE_TUNED
    return ("head", plan.head_features, plan.head_kernel, plan.dihedral_views)


def diverse_first(ranked: Sequence[_T], bar: float | None = None) -> list[_T]:
    """`ranked` (best first) with the best trial of each kind (`trial_kind`) ahead of the rest, each
    part in rank order, except that the best fine-tuned trial comes second when it is not first: the
    ensemble's candidates (the first `KEEP_MODELS`).

    Greedy selection gains only from members that err differently. On ELPV binary (split 2, slower
    CPU) 60 heads on the stage statistics, C 0.006–0.08, filled the top three by validation accuracy
    (0.896), the fine-tuned rule plan (0.868) was dropped, and the export was one head (test 0.849).
    With one place per kind it was dropped again: heads on the statistics (linear and RBF) and on the
    pooled features ranked above it, and every head reads the same frozen backbone, so they err
    alike. The fine-tuned member had the largest weight where it was kept (0.52 and 0.4, splits 0
    and 1: test 0.875 and 0.878).

    `bar`: with out-of-fold selection (`stacking.fine_tune_bar`), the validation accuracy a
    fine-tuned trial must beat to join the export (the heads' mix); those at or below it go last,
    their place is a head's (`Objective.expected_members` counts the same). On ELPV 4 grades (split
    1, AMX CPU) the rule plan (0.700 on validation, heads up to 0.779) held the second place, the RBF
    head on the rotations (third by cross-validation) was dropped, and the two linear heads and the
    pixels tested 0.782.
    """
    behind = [t for t in ranked if bar is not None and trial_kind(t.user_attrs) == FINE_TUNED and _val(t) <= bar]
    held = {id(t) for t in behind}
    seen: list[tuple[Any, ...]] = []  # the kinds of `firsts`, in order
    firsts: list[_T] = []
    rest: list[_T] = []
    for t in ranked:
        if id(t) in held:
            continue
        kind = trial_kind(t.user_attrs)
        if kind in seen:
            rest.append(t)
        else:
            firsts.append(t)
            seen.append(kind)
    if FINE_TUNED in seen[1:]:
        firsts.insert(1, firsts.pop(seen.index(FINE_TUNED)))
    return firsts + rest + behind


def _val(t: _WithAttrs) -> float:
    return float(t.user_attrs.get(TrialAttr.VAL_ACCURACY) or 0.0)


def out_of_fold_head(ranked: Iterable[_T]) -> _T | None:
    """The best head-only trial with out-of-fold predictions, in `ranked` order: the out-of-fold
    ensemble's head (`finish.select_out_of_fold`), kept beside the top trials whatever its rank."""
    return next((t for t in ranked if TrialAttr.CV_PROBS in t.user_attrs), None)
