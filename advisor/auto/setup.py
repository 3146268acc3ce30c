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
    gain = measured.similarity.probe_gain if measured is not None and measured.similarity is not None else None
    others, price = other_backbones(config, choice.name, runner, data, price, gain)
    space = space_for(
        rec,
        book,
        n_blocks,
        config.max_epochs_per_stage,
        config.view_choices,
        config.head_kernel_choices,
        runner.head_feature_choices(choice.name),
        others,
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


def other_backbones(
    config: TuneConfig,
    backbone: str,
    runner: Runner,
    data: Any,
    price: PassPrice | None,
    probe_gain: float | None = None,
) -> tuple[tuple[str, ...], PassPrice | None]:
    """The backbones other than `backbone` whose frozen features head-only trials may read
    (`TuneConfig.second_backbone`), and `price` with each one's pass timed against this one's on the
    same batch (`Runner.pass_seconds`, a few seconds): none without a price (a trial on it could not be
    priced), with the search's own `weights`, or where it offers its head other features.

    None either where frozen features lose to the raw inputs on set-up's sample (`probe_gain` < 0,
    `SimilarityEvidence`): there the classical member carries the export, and another frozen
    backbone's pass is time the search needs elsewhere. On digits (probe 0.82 against 0.93 for the
    32×32 pixels) Lite2's heads on the rotations took 176 s of 480, and the one the export weighed
    in (0.07) cost it 2 test cells of 450 (0.998 without it, 0.993 with it).

    'auto' takes the largest packaged backbone of the modality, beside the smaller one a search
    usually runs: over 8 ELPV binary splits, the RBF and linear heads on Lite0's 4 rotations mixed
    with Lite2's (both at the runners' 224 px) scored 0.879 against 0.873 for Lite0's alone, paired
    +0.6 ± 0.1 points, better or equal on every split; Lite1's added nothing (−0.2 ± 0.2), and
    Lite2's alone scored 0.877 (`bench/bench_elpv_backbones.py`).
    """
    import runners

    lose = probe_gain is not None and probe_gain < 0
    if price is None or config.weights is not None or config.second_backbone == "none" or lose:
        return (), price
    if config.second_backbone == "auto":
        packaged = [e for e in runners.offline_backbones(config.data_modality) if e["name"] != backbone]
        if not packaged:
            return (), price
        other = packaged[-1]["name"]  # the packaged entries run fastest first: the largest is last
    else:
        other = runners.resolve_backbone(config.second_backbone, config.data_modality, None).name
    if other == backbone or runner.head_feature_choices(other) != runner.head_feature_choices(backbone):
        return (), price
    sample = list(data.inputs[: config.batch_size])
    timed = {
        name: runner.pass_seconds(
            name,
            sample,
            weights=config.weights if name == backbone else None,
            device=config.device,
            batch_size=config.batch_size,
            image_size=config.image_size,
            max_length=config.max_length,
        )
        for name in (backbone, other)
    }
    ratios = {**price.backbone_ratios, other: timed[other] / timed[backbone]}
    return (other,), price.model_copy(update={"backbone_ratios": ratios})


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
    for params in head_sweep(setup.space):
        study.enqueue_trial(_plain(params, setup.space), skip_if_exists=True, user_attrs={TrialAttr.SWEEP: True})


def head_sweep(space: SearchSpace) -> list[dict[str, Any]]:
    """The head-only trials enqueued after the rule plan, in the order they run: each a fit of seconds on
    cached features, a few strengths across the range that teach the sampler where the head-only optimum
    lies before it spends minutes on fine-tuning.

    When the dihedral views are searched, the sweep runs on each view count the space offers (ELPV 4
    grades, 4 rotations: 0.768 → 0.791 test with the views). The first fit on a view count pays a
    frozen pass per view the cache lacks, the others read the cache. The budget guard skips what does
    not fit and the search ends where the budget does, so the order decides what an export can hold:

    - The clean images first (the rule plan filled their cache), then the widest view count: the
      views are cached by index, so the half turn's heads after the rotations' read the cache, and
      the three passes the rotations need cost what the half turn's one and the rotations' two more did.
    - Where the runner taps the backbone's stages, the heads on their channel statistics and the RBF
      head come first on each view count, and the pooled linear sweeps after all of them.

    Over 27 kept image runs (ELPV binary and 4 grades, digits; `bench/bench_export_members.py`), every
    export held a statistics head and every ELPV export a head on the 4 rotations (14 the sweep's RBF
    one); the half turn's heads sat in 8, each beside a rotations' head, and a pooled head on views in
    2 (one run's, kept twice; weight 0.07). Queued behind the pooled sweeps and the half turn, the
    rotations' RBF head did not fit ELPV 4 grades' 10 minutes on the days this CPU ran slow.
    """
    balanced = {"class_weights": "off"} if space.imbalanced else {}  # the rule plan tried the guide's weighting
    statistics = STAGE_STATISTICS in space.head_features
    rbf_features = {"head_features": STAGE_STATISTICS} if statistics else {}
    with_rbf = "rbf" in space.head_kernels
    searched = len(space.dihedral_views) > 1
    view_counts = sorted(space.dihedral_views, key=lambda v: (v != 1, -v)) if searched else [None]
    first: list[dict[str, Any]] = []
    pooled_after: list[dict[str, Any]] = []
    by_views: dict[int | None, list[dict[str, Any]]] = {}
    for views in view_counts:
        on_views = {"trainable_blocks": 0, **balanced, **({"dihedral_views": views} if views is not None else {})}
        pooled = [{**on_views, "head_c": c} for c in HEAD_C_SWEEP]
        # Heads on the stages' statistics (bench/bench_elpv_layers.py, ELPV binary over 8 splits: on
        # the image as it is, 0.845 → 0.864; on the 4 rotations, 0.859 → 0.866, 0.873 with the RBF head).
        stats = [{**on_views, "head_c": c, "head_features": STAGE_STATISTICS} for c in STAGE_STATISTICS_C_SWEEP]
        # An RBF head on each view count (bench/bench_elpv_heads.py: C 0.003–0.1 won on ELPV's splits), on
        # the statistics where they are offered; the sampler takes its strength from there.
        rbf = [{**on_views, "head_c": RBF_HEAD_C, "head_kernel": "rbf", **rbf_features}] if with_rbf else []
        heads = [*stats, *rbf] if statistics else [*pooled, *rbf]
        first += heads
        if statistics:
            pooled_after += pooled
        by_views[views] = heads
    # The other backbones' heads on the widest views, after every first head of this backbone and before
    # the pooled sweeps: an other backbone's frozen pass is the sweep's dearest (ELPV, Lite2 on the 4
    # rotations: ~1.35 of Lite0's, none of them cached), and what the budget cannot pay for is skipped,
    # not cut. Only the widest: over 8 ELPV binary splits Lite2's heads on the half turn beside Lite0's
    # on the rotations scored −0.3 ± 0.4 points against Lite0's alone (on the rotations, +0.6 ± 0.1).
    widest = by_views[max(space.dihedral_views)] if searched else by_views[None]
    others = [{**params, "head_backbone": other} for other in space.head_backbones for params in widest]
    return first + others + pooled_after


def _plain(params: dict[str, Any], space: SearchSpace) -> dict[str, Any]:
    """An enqueued head-only trial's parameters with every searched head choice it leaves out set to the
    guide's (a linear head on the pooled features): an enqueued trial without one would have it sampled."""
    defaults = {
        "head_kernel": (LINEAR_HEAD, space.head_kernels),
        "head_features": (POOLED_FEATURES, space.head_features),
    }
    searched: dict[str, Any] = {k: v for k, (v, choices) in defaults.items() if len(choices) > 1}
    if space.head_backbones and params.get("trainable_blocks") == 0:
        searched["head_backbone"] = None  # the search's own backbone
    return {**searched, **params}


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
