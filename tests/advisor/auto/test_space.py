"""The search space: centred on the recommendation, sampled with FixedTrial, rule plan inside it."""

from __future__ import annotations

import optuna
import pytest

from advisor import DatasetProfile, recommend
from advisor.auto.space import (
    HEAD_C_DEFAULT,
    HEAD_C_RANGE,
    LR_WIDEN,
    SearchSpace,
    TrialPlan,
    describe,
    rule_plan_params,
    space_for,
)
from advisor.engine.rulebook import RuleBook


def _space(book: RuleBook, **fields: object) -> tuple[SearchSpace, object]:
    rec = recommend(DatasetProfile(**fields), rules=book)  # type: ignore[arg-type]
    return space_for(rec, book, n_blocks=7, max_epochs_per_stage=5), rec


def test_top_layers_space_is_centred_on_the_guide(book: RuleBook) -> None:
    """Top 10-20 layers: 1e-4, with Decision Path B's 1e-5: the search spans both, widened ×3."""
    space, rec = _space(book, modality="image", n_examples=2000, n_classes=2)
    assert space.lr_backbone == pytest.approx((1e-5 / LR_WIDEN, 1e-4 * LR_WIDEN))
    # While the top blocks train, the head's rate runs from the tuning stage's up to the head stage's 1e-3.
    tune_head = rec.stages[-1].lr_head
    assert space.lr_head == pytest.approx((min(tune_head, 1e-3) / LR_WIDEN, 1e-3 * LR_WIDEN))
    assert space.head_c == HEAD_C_RANGE


def test_feature_extraction_recommendation_still_searches_top_layer_rates(book: RuleBook) -> None:
    space, _ = _space(book, modality="text", n_examples=100, n_classes=5)
    assert space.lr_backbone == pytest.approx((2e-5 / LR_WIDEN, 5e-5 * LR_WIDEN))  # NLP guide 2e-5 to 5e-5


def test_fixed_trial_head_only_has_only_the_head_strength(book: RuleBook) -> None:
    space, _ = _space(book, modality="image", n_examples=2000, n_classes=2)
    plan = space.suggest(optuna.trial.FixedTrial({"trainable_blocks": 0, "head_c": 0.05}))
    assert plan == TrialPlan(trainable_blocks=0, head_c=0.05)
    assert plan.total_epochs == 1 and describe(plan, 7) == "head fit C=0.05 (head only)"


def test_fixed_trial_outside_the_space_is_refused(book: RuleBook) -> None:
    space, _ = _space(book, modality="image", n_examples=2000, n_classes=2)
    with pytest.raises(ValueError):
        space.suggest(optuna.trial.FixedTrial({"trainable_blocks": 9, "head_c": 1.0}))


@pytest.mark.parametrize(
    ("fields", "blocks", "lr_backbone"),
    [
        (dict(modality="image", n_examples=300, n_classes=3), 0, None),
        (dict(modality="image", n_examples=2000, n_classes=2), 1, 1e-4),  # 20% of 7 blocks → 1
        (dict(modality="image", n_examples=20000, n_classes=2, similarity="different"), 4, 1e-5),  # 50% → 4
        (dict(modality="image", n_examples=120000, n_classes=2, similarity="different"), 7, 1e-4),
    ],
)
def test_rule_plan_is_a_point_of_the_space(
    book: RuleBook, fields: dict, blocks: int, lr_backbone: float | None
) -> None:
    space, rec = _space(book, **fields)
    params = rule_plan_params(rec, space)  # type: ignore[arg-type]
    assert params["trainable_blocks"] == blocks
    assert params.get("lr_backbone") == lr_backbone
    plan = space.suggest(optuna.trial.FixedTrial(params))  # the enqueued plan must be inside the space
    assert plan.head_c == HEAD_C_DEFAULT == 0.01  # the classifier stage: converged, at the measured strength
    assert (plan.tune_epochs or 0) <= space.max_epochs_per_stage
    if blocks:
        assert plan.lr_head == rec.stages[-1].lr_head  # the tuning stage's own head rate


def test_rule_plan_layerwise_decay_spans_the_guide(book: RuleBook) -> None:
    """All layers, similar early features: top 1e-4 down to 1e-6 over the trained blocks."""
    space, rec = _space(book, modality="image", n_examples=120000, n_classes=2, similarity="different")
    params = rule_plan_params(rec, space)  # type: ignore[arg-type]
    decay = params["layer_decay"]
    assert params["lr_backbone"] * decay ** (params["trainable_blocks"] - 1) == pytest.approx(1e-6)


def test_class_weighting_is_searched_only_for_imbalanced_data(book: RuleBook) -> None:
    """The guide weights imbalanced classes; that costs accuracy (ELPV: 0.852 against 0.865), so both are tried."""
    balanced, _ = _space(book, modality="image", n_examples=2000, n_classes=2, smallest_class=900, largest_class=1100)
    assert not balanced.imbalanced
    assert balanced.suggest(optuna.trial.FixedTrial({"trainable_blocks": 0, "head_c": 1.0})).class_weights == "auto"
    skewed, rec = _space(book, modality="image", n_examples=2000, n_classes=2, smallest_class=500, largest_class=1500)
    assert skewed.imbalanced
    params = rule_plan_params(rec, skewed)  # type: ignore[arg-type]
    assert params["class_weights"] == "auto"  # the rule plan follows the guide
    plan = skewed.suggest(optuna.trial.FixedTrial({"trainable_blocks": 0, "head_c": 1.0, "class_weights": "off"}))
    assert plan.class_weights == "off"


def test_a_sampled_plan_stays_within_the_depths_and_epochs_the_time_left_pays_for() -> None:
    space = SearchSpace(n_blocks=8, lr_head=(1e-4, 1e-2), lr_backbone=(1e-5, 1e-3), max_epochs_per_stage=8)
    fits = {1: 3, 2: 1, 3: 1}  # epochs per depth; 0 from 4 blocks up
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    plans = []
    for _ in range(60):
        trial = study.ask()
        plans.append(space.suggest(trial, lambda k: fits.get(k, 0)))
        assert trial.distributions["trainable_blocks"].high == 3
        study.tell(trial, 0.5)
    assert {p.trainable_blocks for p in plans} == {0, 1, 2, 3}
    assert all((p.tune_epochs or 0) <= fits.get(p.trainable_blocks, 0) for p in plans)
    assert max(p.tune_epochs or 0 for p in plans if p.trainable_blocks == 1) == 3
    # Depths not priced yet (None) are not held back; nothing that fits leaves the head alone.
    unpriced, nothing = study.ask(), study.ask()
    space.suggest(unpriced, lambda k: None)
    assert unpriced.distributions["trainable_blocks"].high == 8
    assert space.suggest(nothing, lambda k: 0).trainable_blocks == 0
    # All 8 blocks train from the inputs, no cache to fill: they can fit where 3 to 7 do not (ELPV 4
    # grades, 99 s left: 7 blocks were proposed, priced at 109 s). The range stops at the first gap.
    holes = {1: 3, 2: 1, 8: 2}
    for _ in range(20):
        trial = study.ask()
        plan = space.suggest(trial, lambda k: holes.get(k, 0))
        assert trial.distributions["trainable_blocks"].high == 2 and plan.trainable_blocks <= 2
        study.tell(trial, 0.5)


def test_an_image_space_searches_an_rbf_head_for_head_only_plans_and_the_rule_plan_keeps_the_linear_one(
    book: RuleBook,
) -> None:
    rec = recommend(DatasetProfile(modality="image", n_examples=300, n_classes=3), rules=book)
    space = space_for(rec, book, n_blocks=7, max_epochs_per_stage=5, head_kernels=("linear", "rbf"))
    params = rule_plan_params(rec, space)
    assert params["trainable_blocks"] == 0 and params["head_kernel"] == "linear"
    assert space.suggest(optuna.trial.FixedTrial(params)).head_kernel == "linear"
    plan = space.suggest(optuna.trial.FixedTrial({"trainable_blocks": 0, "head_c": 0.03, "head_kernel": "rbf"}))
    assert plan.head_kernel == "rbf" and describe(plan, 7) == "head fit C=0.03 (head only, RBF kernel)"
    # A fine-tuning plan is never asked for a kernel: its head is linear, and its blocks train under it.
    tuned = {
        "trainable_blocks": 2,
        "head_c": 0.01,
        "lr_head": space.lr_head[0],
        "lr_backbone": space.lr_backbone[0],
        "layer_decay": 1.0,
        "tune_epochs": 2,
        "weight_decay": space.weight_decay[0],
    }
    assert space.suggest(optuna.trial.FixedTrial(tuned)).head_kernel == "linear"


def test_head_only_plans_search_the_stage_statistics_where_the_backbone_has_them_and_the_rule_plan_does_not(
    book: RuleBook,
) -> None:
    rec = recommend(DatasetProfile(modality="image", n_examples=300, n_classes=3), rules=book)
    space = space_for(rec, book, n_blocks=8, max_epochs_per_stage=5, head_features=("pooled", "stage_statistics"))
    params = rule_plan_params(rec, space)
    assert params["head_features"] == "pooled"  # the guide's classifier reads the pooled features
    assert space.suggest(optuna.trial.FixedTrial(params)).head_features == "pooled"
    chosen = {"trainable_blocks": 0, "head_c": 0.03, "head_features": "stage_statistics"}
    plan = space.suggest(optuna.trial.FixedTrial(chosen))
    assert plan.head_features == "stage_statistics"
    assert describe(plan, 8) == "head fit C=0.03 (head only, stage statistics)"
    one = space_for(rec, book, n_blocks=8, max_epochs_per_stage=5)
    assert "head_features" not in rule_plan_params(rec, one)  # not searched: no parameter
    assert one.suggest(optuna.trial.FixedTrial({"trainable_blocks": 0, "head_c": 0.03})).head_features == "pooled"
