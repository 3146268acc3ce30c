"""Setting a search up: count the data, ask the rules for a plan, measure similarity, derive the space;
store all of it with a new study, or take the stored one when joining or resuming."""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import optuna
from pydantic import BaseModel, ConfigDict, Field

from advisor.auto.attrs import StudyAttr, TrialAttr
from advisor.auto.budget import PassPrice
from advisor.auto.config import TuneConfig
from advisor.auto.space import (
    HEAD_C_DEFAULT,
    HEAD_C_SWEEP,
    RBF_HEAD_C,
    STAGE_STATISTICS_C_SWEEP,
    SearchSpace,
    TrialPlan,
    rule_plan_params,
    space_for,
)
from advisor.auto.trial_specs import data_source, trial_spec
from advisor.engine.recommend import recommend
from advisor.engine.rulebook import RuleBook
from advisor.profile import DatasetProfile
from advisor.profiling.progress import Progress, staged
from advisor.recommendation import Recommendation
from runners.specs import LINEAR_HEAD, POOLED_FEATURES, STAGE_STATISTICS

if TYPE_CHECKING:
    from advisor.profiling.evidence import Measured
    from runners.runner import Runner


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
    price: PassPrice | None = Field(
        None, description="What the measuring frozen pass took: the budget's prices before any trial."
    )
    split: Any = Field(exclude=True, repr=False, description="The runners' Split every trial uses.")
    seconds: dict[str, float] = Field(
        default={}, description="Set-up's long steps and their seconds: 'data' (the scan), 'measuring' (frozen passes)."
    )


def profile_for_search(
    config: TuneConfig, runner: Runner, progress: Progress | None = None
) -> tuple[DatasetProfile, Any]:
    """Count the labelled examples the runner will see (unreadable files are skipped, as in trials)."""
    import torch

    data = runner.load_data_cached(data_source(config), staged(progress, f"reading {config.data.name}"))
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


def prepare(config: TuneConfig, book: RuleBook, runner: Runner, progress: Progress | None = None) -> SearchSetup:
    """Profile the data, ask the rules for a plan, resolve the backbone and derive the search space.

    `progress` gets (stage, done, total) from the long steps: reading the data, the frozen passes.
    """
    from runners import resolve_backbone

    start = time.perf_counter()
    profile, data = profile_for_search(config, runner, progress)
    seconds = {"data": time.perf_counter() - start}
    rec = recommend(profile, rules=book)
    requested = config.backbone or rec.backbone.model_id
    choice = resolve_backbone(requested, config.data_modality, config.weights)
    note = choice.fallback_reason
    similarity_note = None
    start = time.perf_counter()
    measured, price = measure_for_search(config, book, data, choice, runner, progress)
    seconds["measuring"] = time.perf_counter() - start
    if measured is not None and measured.similarity is not None:
        from advisor.profiling.apply import recommend_measured, similarity_reason

        profile = profile.model_copy(update={"similarity": measured.similarity.level})
        rec = recommend_measured(profile, measured, rules=book)
        chosen = measured.chosen_backbone
        if config.backbone is None and chosen is not None and chosen != choice.name:
            choice = resolve_backbone(chosen, config.data_modality, config.weights)
            note = None
        reason = similarity_reason(measured.similarity)
        similarity_note = f"Similarity measured as '{measured.similarity.level}'. {reason.reason if reason else ''}"
        # Workers and resumed runs read the stored config: they reuse the answers instead of measuring again.
        config = config.model_copy(update={"similarity": measured.similarity.level, "backbone": choice.name})
    n_blocks = runner.n_blocks(choice.name, config.weights)
    space = space_for(
        rec,
        book,
        n_blocks,
        config.max_epochs_per_stage,
        config.view_choices,
        config.head_kernel_choices,
        runner.head_feature_choices(choice.name),
    )
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
        price=price,
        seconds=seconds,
    )


def measure_for_search(
    config: TuneConfig, book: RuleBook, data: Any, choice: Any, runner: Runner, progress: Progress | None = None
) -> tuple[Measured | None, PassPrice | None]:
    """Measured similarity and backbone fit for a search whose similarity was not given, else None;
    with what the frozen pass took, per example and per block, when it made one (the budget's first price).

    Random weights have nothing to measure against. With an explicit backbone only that one is
    measured, in the pass that fills the activation cache for the rule plan's head-only stage
    (`Runner.frozen_pass`), so it costs the search no extra forward pass. When the guide's pick fell
    back to the packaged weights, every backbone loadable offline (packaged weights and hub cache) is ranked on a
    sample (one extra pass each).
    """
    if config.similarity is not None or not config.measure_similarity or choice.weights_source == "random":
        return None, None
    from advisor.profiling.profiler import candidate_backbones, measure_sample

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
        # One pass measures similarity and leaves the features every head fit reads.
        # The drift is measured on as many examples as `advisor profile` samples (its thresholds' calibration).
        progress_of = staged(progress, f"frozen pass: {candidates[0]}")
        frozen = runner.frozen_pass(spec, progress_of, drift_sample=book.profiling.sample)
    price = (
        PassPrice.from_pass(frozen.seconds, len(frozen.labels), frozen.block_seconds, frozen.input_seconds)
        if frozen is not None and frozen.labels
        else None
    )
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
        progress=progress,
    ), price


def initialise_study(study: optuna.Study, config: TuneConfig, setup: SearchSetup) -> None:
    """A new study: store its settings, space and recommendation; enqueue the rule plan and the head-strength
    sweep, once per view count the space searches (the image as it is first: its features are cached)."""
    # The storage URL may hold a password: workers bring their own instead of reading it here.
    study.set_user_attr(StudyAttr.CONFIG, config.model_dump(mode="json", exclude={"storage"}))
    study.set_user_attr(StudyAttr.SPACE, setup.space.model_dump(mode="json"))
    study.set_user_attr(StudyAttr.RECOMMENDATION, setup.recommendation.model_dump(mode="json"))
    if setup.price is not None:
        study.set_user_attr(StudyAttr.PASS_PRICE, setup.price.model_dump(mode="json"))
    if not config.enqueue_rule_plan:
        return
    study.enqueue_trial(rule_plan_params(setup.recommendation, setup.space), user_attrs={TrialAttr.RULE_PLAN: True})
    # Head fits cost seconds once the features are cached: a few strengths across the range
    # teach the sampler where the head-only optimum lies before it spends minutes on fine-tuning.
    # When the dihedral views are searched, the sweep runs again on them: its first fit pays a frozen
    # pass per view, the others read the cache (ELPV 4 grades, 4 rotations: 0.768 → 0.791 test with the views).
    # Heads on the stages' channel statistics follow each view count's sweep: they read the same cached
    # top states (bench/bench_elpv_layers.py, ELPV binary over 8 splits: on the image as it is, 0.845 →
    # 0.864; on the 4 rotations, 0.859 → 0.866, 0.873 with the RBF head), so where the views' passes do
    # not fit the time the rule plan left, the statistics on the clean images still run.
    searched = len(setup.space.dihedral_views) > 1
    swept = {TrialAttr.SWEEP: True}
    balanced = {"class_weights": "off"} if setup.space.imbalanced else {}  # the rule plan tried the guide's weighting
    statistics = STAGE_STATISTICS in setup.space.head_features
    for views in setup.space.dihedral_views if searched else (None,):
        on_views = {"dihedral_views": views} if views is not None else {}
        for c in HEAD_C_SWEEP:
            head = {"trainable_blocks": 0, "head_c": c, **balanced, **on_views}
            study.enqueue_trial(_plain(head, setup.space), skip_if_exists=True, user_attrs=swept)
        for c in STAGE_STATISTICS_C_SWEEP if statistics else ():
            stats = {"trainable_blocks": 0, "head_c": c, **balanced, **on_views, "head_features": STAGE_STATISTICS}
            study.enqueue_trial(_plain(stats, setup.space), skip_if_exists=True, user_attrs=swept)
        if "rbf" in setup.space.head_kernels:
            # An RBF head beside each view count's linear sweep (bench/bench_elpv_heads.py: C 0.003–0.1
            # won on ELPV's splits); the sampler takes its strength from there. It reads the stage
            # statistics where they are offered: on ELPV binary's 4 rotations, 0.873 against 0.865 on
            # the pooled features alone over 8 splits (bench/bench_elpv_layers.py). Queued after the
            # views' sweep only, it never ran on digits (slower CPU): the rotations' pass and a 62 s
            # head on their statistics went first, and the reserve for them ended the search, 0.989
            # test against 0.996 when the RBF head ran.
            rbf = {"trainable_blocks": 0, "head_c": RBF_HEAD_C, **balanced, **on_views, "head_kernel": "rbf"}
            if statistics:
                rbf["head_features"] = STAGE_STATISTICS
            study.enqueue_trial(_plain(rbf, setup.space), skip_if_exists=True, user_attrs=swept)


def _plain(params: dict[str, Any], space: SearchSpace) -> dict[str, Any]:
    """An enqueued head-only trial's parameters with every searched head choice it leaves out set to the
    guide's (a linear head on the pooled features): an enqueued trial without one would have it sampled."""
    defaults = {
        "head_kernel": (LINEAR_HEAD, space.head_kernels),
        "head_features": (POOLED_FEATURES, space.head_features),
    }
    return {**{k: v for k, (v, choices) in defaults.items() if len(choices) > 1}, **params}


def as_stored(study: optuna.Study, setup: SearchSetup) -> SearchSetup:
    """Whoever created the study fixed the search space and the recommendation the rule plan runs;
    a joining worker or a resumed run uses those, so every trial of a study agrees.

    A worker makes no measuring pass of its own: it prices its first trials with the creating run's
    (the blocks' shares of a pass do not depend on the machine; its seconds are an upper bound
    that the worker's own first measurements replace). A run that measured keeps its own price.
    """
    update: dict[str, Any] = {}
    if setup.price is None and StudyAttr.PASS_PRICE in study.user_attrs:
        update["price"] = PassPrice.model_validate(study.user_attrs[StudyAttr.PASS_PRICE])
    if StudyAttr.SPACE in study.user_attrs:
        update["space"] = SearchSpace.model_validate(study.user_attrs[StudyAttr.SPACE])
    if StudyAttr.RECOMMENDATION in study.user_attrs:
        update["recommendation"] = Recommendation.model_validate(study.user_attrs[StudyAttr.RECOMMENDATION])
    return setup.model_copy(update=update)
