"""Heads on a second backbone: the plan, the sweep that queues them, their price, and set-up's choice."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from advisor.auto.budget import CostModel, PassPrice
from advisor.auto.config import TuneConfig
from advisor.auto.setup import _plain, head_sweep, other_backbones
from advisor.auto.space import SearchSpace, TrialPlan, describe, rule_plan_params
from advisor.auto.trial_specs import trial_spec
from runners import AugmentConfig, EpochMetrics
from runners.specs import STAGE_STATISTICS

from .conftest import ScriptedRunner
from .test_budget import HEAD, _objective

OTHER = "efficientnet_lite2"


def _space(**fields: Any) -> SearchSpace:
    return SearchSpace(n_blocks=8, lr_head=(1e-4, 1e-2), lr_backbone=(1e-5, 1e-3), max_epochs_per_stage=8, **fields)


def _epoch(seconds: float) -> EpochMetrics:
    return EpochMetrics(
        stage=0, epoch=0, train_loss=1, val_loss=1, val_accuracy=0.5, val_macro_f1=0.5, seconds=seconds, lr=1e-3
    )


def test_only_a_head_only_plan_reads_another_backbone_and_its_line_names_it() -> None:
    with pytest.raises(ValueError, match="only a head-only plan"):
        TrialPlan(trainable_blocks=2, head_c=1.0, lr_head=1e-3, lr_backbone=1e-4, tune_epochs=1, head_backbone=OTHER)
    plan = TrialPlan(trainable_blocks=0, head_c=0.03, head_kernel="rbf", dihedral_views=4, head_backbone=OTHER)
    assert describe(plan, 8) == f"head fit C=0.03 (head only, RBF kernel, 4 views, on {OTHER})"


def test_the_space_offers_the_other_backbone_to_head_only_plans_and_the_rule_plan_keeps_its_own(
    image_dir, tmp_path
) -> None:
    space = _space(head_backbones=(OTHER,))
    head = space.suggest(optuna.trial.FixedTrial({"trainable_blocks": 0, "head_c": 0.1, "head_backbone": OTHER}))
    assert head.head_backbone == OTHER
    own = space.suggest(optuna.trial.FixedTrial({"trainable_blocks": 0, "head_c": 0.1, "head_backbone": None}))
    assert own.head_backbone is None
    tuned = {"trainable_blocks": 2, "head_c": 0.1, "lr_head": 1e-3, "lr_backbone": 1e-4, "layer_decay": 1.0}
    fine_tune = space.suggest(optuna.trial.FixedTrial({**tuned, "tune_epochs": 2, "weight_decay": 1e-4}))
    assert fine_tune.head_backbone is None  # never asked: only a frozen backbone's features are read
    assert _space().suggest(optuna.trial.FixedTrial({"trainable_blocks": 0, "head_c": 0.1})).head_backbone is None

    config = TuneConfig(data=image_dir, out=tmp_path, backbone="efficientnet_lite0")
    spec = trial_spec(head, config, "efficientnet_lite0", None, AugmentConfig())
    assert (spec.backbone, spec.weights) == (OTHER, None)
    assert trial_spec(own, config, "efficientnet_lite0", None, AugmentConfig()).backbone == "efficientnet_lite0"
    given = config.model_copy(update={"weights": "own.safetensors"})  # the search's weights, not the other's
    assert trial_spec(head, given, "efficientnet_lite0", None, AugmentConfig()).weights is None
    assert trial_spec(own, given, "efficientnet_lite0", None, AugmentConfig()).weights == "own.safetensors"


def test_the_sweep_queues_the_other_backbones_heads_on_the_widest_views_before_the_pooled_sweeps() -> None:
    """Its pass is the dearest of the sweep: after every first head of the search's own backbone (what
    the exports hold), before the pooled linear sweeps; the same statistics and RBF heads, on the 4
    rotations only (over 8 ELPV splits, the half turn's added nothing)."""
    space = _space(
        dihedral_views=(1, 2, 4),
        head_kernels=("linear", "rbf"),
        head_features=("pooled", STAGE_STATISTICS),
        head_backbones=(OTHER,),
    )
    sweep = head_sweep(space)
    others = [i for i, params in enumerate(sweep) if params.get("head_backbone") == OTHER]
    own_first = [i for i, p in enumerate(sweep) if p.get("head_features") == STAGE_STATISTICS and i not in others]
    pooled = [i for i, p in enumerate(sweep) if "head_features" not in p]
    assert len(others) == 3 and max(own_first) < min(others) and max(others) < min(pooled)
    assert [(sweep[i].get("head_kernel"), sweep[i]["dihedral_views"]) for i in others] == [
        (None, 4),
        (None, 4),
        ("rbf", 4),
    ]
    assert all(sweep[i]["head_features"] == STAGE_STATISTICS for i in others)
    # An enqueued head of the search's own backbone says so, or the sampler would draw the backbone.
    assert (
        _plain(sweep[0], space)["head_backbone"] is None and _plain(sweep[others[0]], space)["head_backbone"] == OTHER
    )
    assert "head_backbone" not in head_sweep(space.model_copy(update={"head_backbones": ()}))[0]
    assert rule_plan_params_head(space)["head_backbone"] is None


def rule_plan_params_head(space: SearchSpace) -> dict[str, Any]:
    from advisor.engine.recommend import recommend
    from advisor.profile import DatasetProfile

    rec = recommend(DatasetProfile(modality="image", n_examples=100, n_classes=2, similarity="similar"))
    assert rec.trainable_fraction == 0  # feature extraction: the rule plan is a head-only plan
    return rule_plan_params(rec, space)


def test_a_head_on_another_backbone_is_priced_at_its_pass_and_does_not_price_this_ones() -> None:
    """1,200 train + validation examples at 20 ms a pass of the search's backbone, the other's timed at
    1.5 times it: its 4 views cost 4 × 1,200 × 30 ms = 144 s, none of them cached (the set-up's pass
    was the search's own). Its fill re-prices it (measured 2× : 192 s were 4 × 1,200 × 40 ms) and is
    no forward pass of this backbone; once filled, a head on its views costs the fixed seconds."""
    on_other = HEAD.model_copy(update={"dihedral_views": 4, "head_backbone": OTHER})
    price = PassPrice(seconds_per_example=0.02, backbone_ratios={OTHER: 1.5})
    cost = CostModel.priced(8, 1000, 200, price, view_rows=1200)
    assert cost.estimate(on_other) == pytest.approx(144.0)
    assert cost.estimate(HEAD.model_copy(update={"dihedral_views": 4})) == pytest.approx(72.0)  # own: 3 views
    cost.observe(on_other, seconds=200.0, stage_seconds=[198.0], curve=[_epoch(1.0)], fill_rate=0.04, fill=192.0)
    assert cost.forwards == [] and cost.views_cached == 1
    assert cost.pass_ratio(OTHER) == pytest.approx(2.0)
    assert cost.estimate(on_other) == pytest.approx(cost.overhead()) == pytest.approx(8.0)
    on_8 = on_other.model_copy(update={"dihedral_views": 8})
    assert cost.estimate(on_8) == pytest.approx(8.0 + 4 * 1200 * 0.04)


def test_a_member_on_another_backbone_adds_its_views_passes_at_its_price(image_dir, tmp_path, book) -> None:
    """The search's heads share one pass per view; a head on another backbone shares none of its
    blocks: its views' passes, each 1.5 of this backbone's, come on top."""
    objective, _ = _objective(image_dir, tmp_path, book, [0.0], budget_s=600.0, dihedral_views="auto")
    objective.config = objective.config.model_copy(update={"weights": None})
    objective.cost.ratios = {OTHER: 1.5}
    objective.n_complete = 3
    on_4 = HEAD.model_copy(update={"dihedral_views": 4})
    objective.kept_runs = [(on_4, 0.0, 0.0), (on_4, 0.0, 0.0)]
    assert objective.expected_passes() == pytest.approx(4.0)
    other = on_4.model_copy(update={"head_backbone": OTHER})
    assert objective.expected_passes(other) == pytest.approx(4.0 + 4 * 1.5)
    objective.kept_runs = [(other, 0.0, 0.0), (other.model_copy(update={"head_c": 0.1}), 0.0, 0.0)]
    objective.n_complete = 2
    assert objective.expected_passes() == pytest.approx(4 * 1.5)  # its two heads share its passes


class _TimedRunner(ScriptedRunner):
    def __init__(self, seconds: dict[str, float], head_features: tuple[str, ...] = ("pooled",)) -> None:
        super().__init__(lambda spec: [0.7], head_features=head_features)
        self.seconds, self.timed = seconds, []

    def pass_seconds(self, backbone: str, inputs: list[Any], **kwargs: Any) -> float:
        self.timed.append((backbone, len(inputs), kwargs["weights"]))
        return self.seconds[backbone]


def test_set_up_times_the_largest_other_packaged_backbone_against_the_search_s_own(image_dir, tmp_path) -> None:
    runner = _TimedRunner({"efficientnet_lite0": 0.02, OTHER: 0.03})
    config = TuneConfig(data=image_dir, out=tmp_path, backbone="efficientnet_lite0", batch_size=16)
    data = runner.load_data(None)
    price = PassPrice(seconds_per_example=0.05)
    others, priced = other_backbones(config, "efficientnet_lite0", runner, data, price)
    assert others == (OTHER,) and priced is not None
    assert priced.backbone_ratios == {OTHER: pytest.approx(1.5)} and priced.seconds_per_example == 0.05
    assert runner.timed == [("efficientnet_lite0", 16, None), (OTHER, 16, None)]
    # None without the set-up's price, with the search's own weights, when asked not to, or where the
    # other backbone would offer its heads other features.
    assert other_backbones(config, "efficientnet_lite0", runner, data, None) == ((), None)
    with_weights = config.model_copy(update={"weights": "own.safetensors"})
    assert other_backbones(with_weights, "efficientnet_lite0", runner, data, price) == ((), price)
    # Nor where frozen features lost to the raw inputs on set-up's sample (digits: 0.82 against 0.93).
    assert other_backbones(config, "efficientnet_lite0", runner, data, price, probe_gain=-0.11) == ((), price)
    assert other_backbones(config, "efficientnet_lite0", runner, data, price, probe_gain=0.06)[0] == (OTHER,)
    off = config.model_copy(update={"second_backbone": "none"})
    assert other_backbones(off, "efficientnet_lite0", runner, data, price) == ((), price)
    named = config.model_copy(update={"second_backbone": "efficientnet_lite1"})
    runner.seconds["efficientnet_lite1"] = 0.025
    assert other_backbones(named, "efficientnet_lite0", runner, data, price)[0] == ("efficientnet_lite1",)
    assert other_backbones(config, OTHER, runner, data, price)[0] == ("efficientnet_lite1",)

    class Apart(_TimedRunner):
        def head_feature_choices(self, backbone: str) -> tuple[str, ...]:
            return ("pooled", STAGE_STATISTICS) if backbone == "efficientnet_lite0" else ("pooled",)

    assert other_backbones(config, "efficientnet_lite0", Apart(runner.seconds), data, price) == ((), price)
