"""Optuna study plumbing: storage, pruner registry, and the settings stored with the study."""

from __future__ import annotations

from collections.abc import Callable

import optuna

from advisor.auto.config import PrunerName, TuneConfig
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
