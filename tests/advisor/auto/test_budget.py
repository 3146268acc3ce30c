"""The budget guard: trial costs learned per depth, trials that cannot fit are not started (fake clock)."""

from __future__ import annotations

import optuna
import pytest

from advisor.auto.attrs import StudyAttr
from advisor.auto.budget import CostModel, PassPrice
from advisor.auto.config import TuneConfig
from advisor.auto.objective import SMALL_VALIDATION, Objective
from advisor.auto.progress import SilentProgress
from advisor.auto.space import SearchSpace, TrialPlan
from runners import AugmentConfig, EpochMetrics
from runners.specs import LINEAR_HEAD, HeadKernel

from .conftest import ScriptedRunner

HEAD = TrialPlan(trainable_blocks=0, head_c=1.0)


def _tuned(k: int, epochs: int) -> TrialPlan:
    return TrialPlan(
        trainable_blocks=k, head_c=1.0, lr_head=1e-3, lr_backbone=1e-4, layer_decay=1.0, tune_epochs=epochs
    )


def _kept(*members: tuple[int, int]) -> list[tuple[TrialPlan, float, float]]:
    """`Objective.kept_runs` of trials (trainable blocks, dihedral views), in the candidates' order."""
    return [
        (HEAD.model_copy(update={"dihedral_views": views}) if k == 0 else _tuned(k, 1), 0.0, 0.0)
        for k, views in members
    ]


def _epoch(stage: int, seconds: float) -> EpochMetrics:
    return EpochMetrics(
        stage=stage, epoch=0, train_loss=1, val_loss=1, val_accuracy=0.5, val_macro_f1=0.5, seconds=seconds, lr=1e-3
    )


def test_cost_is_learned_per_depth_and_scaled_to_unseen_depths() -> None:
    cost = CostModel(n_blocks=8, n_train_rows=1000, n_val=200)
    assert cost.estimate(HEAD) is None and cost.estimate(_tuned(2, 3)) is None  # nothing measured yet
    cost.observe(HEAD, seconds=12.0, stage_seconds=[2.0], curve=[_epoch(0, 2.0)], fill_rate=0.01)
    assert cost.estimate(HEAD) == pytest.approx(12.0)
    # Before any fine-tuning epoch: the trainable blocks' share of a forward pass (k/n without measured
    # shares), three times per training row (forward + backward) and once per validation row.
    per_epoch = 0.01 * 1000 * 3 * 2 / 8 + 0.01 * 200 * 2 / 8
    fill = 0.01 * 1200 * 6 / 8
    assert cost.estimate(_tuned(2, 3)) == pytest.approx(12.0 + fill + 3 * per_epoch)
    # A measured depth replaces the prior; unseen depths scale with depth from the nearest seen one.
    cost.observe(
        _tuned(2, 2),
        seconds=62.0,
        stage_seconds=[2.0, 50.0],
        curve=[_epoch(0, 2), _epoch(1, 20), _epoch(1, 20)],
        fill_rate=None,
    )
    assert cost.epoch(2) == pytest.approx(20.0) and cost.epoch(8) == pytest.approx(80.0)
    assert cost.estimate(_tuned(2, 4)) == pytest.approx(12.0 + 4 * 20.0)  # boundary filled: no fill cost


# EfficientNet-Lite0's blocks at 224 px, as one timed batch split its pass (2 CPU cores).
LITE0_SHARES = (0.042, 0.052, 0.481, 0.243, 0.043, 0.051, 0.057, 0.031)


def test_unseen_depths_are_priced_by_the_measured_share_of_their_blocks() -> None:
    """ELPV, channels last: the top 2 of 8 blocks trained at ~16 s an epoch, and a 5-block trial priced
    in proportion to depth (40 s an epoch) took 72 s; the top 5 blocks take 42.5% of the pass, the
    top 2 8.8%, so the shares price it at 16 × 0.425 / 0.088 = 77 s."""
    cost = CostModel(n_blocks=8, n_train_rows=3150, n_val=393, block_shares=LITE0_SHARES)
    assert cost.top_share(2) == pytest.approx(0.088) and cost.top_share(5) == pytest.approx(0.425)
    assert cost.top_share(0) == 0.0 and cost.top_share(8) == pytest.approx(1.0)
    cost.observe(_tuned(2, 1), seconds=17.0, stage_seconds=[1.0, 16.0], curve=[_epoch(1, 16.0)], fill_rate=None)
    assert cost.epoch(5) == pytest.approx(16.0 * 0.425 / 0.088)
    uniform = CostModel(n_blocks=8, n_train_rows=3150, n_val=393)
    uniform.observe(_tuned(2, 1), seconds=17.0, stage_seconds=[1.0, 16.0], curve=[_epoch(1, 16.0)], fill_rate=None)
    assert uniform.epoch(5) == pytest.approx(40.0)  # the old price: every block alike


def test_a_fill_below_a_boundary_is_scaled_to_a_whole_pass_by_the_blocks_below_it() -> None:
    """With shares measured, the blocks below the top 2 of Lite0 are 91.2% of the pass, not 6/8 of it;
    without them, every block counts alike."""
    cost = CostModel(n_blocks=8, n_train_rows=1000, n_val=200, block_shares=LITE0_SHARES)
    fill_rate = 0.009  # seconds per example for the bottom 6 blocks
    cost.observe(_tuned(2, 1), 30.0, [1.0, 20.0], [_epoch(1, 20.0)], fill_rate=fill_rate, fill_boundary=6)
    assert cost.forward_per_example == pytest.approx(fill_rate / 0.912)
    uniform = CostModel(n_blocks=8, n_train_rows=1000, n_val=200)
    uniform.observe(_tuned(2, 1), 30.0, [1.0, 20.0], [_epoch(1, 20.0)], fill_rate=fill_rate, fill_boundary=6)
    assert uniform.forward_per_example == pytest.approx(fill_rate * 8 / 6)
    # A fine-tuning trial whose head stage filled the top boundary (its own boundary was cached): a whole pass.
    tuned_head = CostModel(n_blocks=8, n_train_rows=1000, n_val=200, block_shares=LITE0_SHARES)
    tuned_head.observe(_tuned(2, 1), 30.0, [1.0, 20.0], [_epoch(1, 20.0)], fill_rate=0.01, fill_boundary=8)
    assert tuned_head.forward_per_example == pytest.approx(0.01)
    assert cost.fill(5) == pytest.approx(fill_rate / 0.912 * 1200 * (1 - 0.425))
    head = CostModel(n_blocks=8, n_train_rows=1000, n_val=200, block_shares=LITE0_SHARES)
    head.observe(HEAD, 2.0, [1.0], [_epoch(0, 1.0)], fill_rate=0.01)  # a head's fill is the whole pass
    assert head.forward_per_example == pytest.approx(0.01)


def test_the_set_up_pass_price_splits_the_pass_into_inputs_and_blocks() -> None:
    """On the timed batch the blocks took 10 ms an example and its inputs 10 more: half the pass is
    inputs. The pass's own seconds (model build included) set the price, never the split: on BBC
    5/class the measuring pass over 75 texts was mostly the build."""
    price = PassPrice.from_pass(20.0, 1000, [0.002, 0.006, 0.002], input_seconds=0.01)
    assert price is not None and price.seconds_per_example == pytest.approx(0.02)
    assert price.block_shares == pytest.approx((0.2, 0.6, 0.2))
    assert price.input_share == pytest.approx(0.5)
    assert PassPrice.from_pass(20.0, 10, [0.001, 0.001, 0.001], input_seconds=0.0).input_share == 0.0
    assert PassPrice.from_pass(20.0, 10, [0.001], input_seconds=1.0).input_share == pytest.approx(0.9)  # capped
    assert PassPrice.from_pass(20.0, 0, [0.1]) is None
    assert PassPrice.from_pass(20.0, 1000, None).block_shares is None


def test_a_fill_pays_the_inputs_and_an_epoch_on_cached_activations_does_not() -> None:
    """ELPV: the measuring pass took 41 ms a cell, its blocks about 20. An epoch of the top 2 blocks
    (3,150 cached views + 393 validation) then prices at 41 ms × 0.5 × 8.8% per row, three times for
    training (it took 14-17 s); a fill below the top 5 pays the inputs and the bottom 3 blocks."""
    cost = CostModel(n_blocks=8, n_train_rows=3150, n_val=393, block_shares=LITE0_SHARES, input_share=0.5)
    cost.forward_prior = 0.041
    assert cost.top_share(2) == pytest.approx(0.5 * 0.088)
    # Training every block reads the inputs every epoch (nothing cached): the whole pass, inputs included.
    assert cost.top_share(8) == 1.0 and cost.epoch(8) == pytest.approx(0.041 * (3150 * 3 + 393))
    assert cost.epoch(2) == pytest.approx(0.041 * 0.5 * 0.088 * (3150 * 3 + 393))
    assert cost.fill(5) == pytest.approx(0.041 * (3150 + 393) * (0.5 + 0.5 * (1 - 0.425)))
    # a trial's fill below the top 2 (the inputs and 6 blocks) rescales to the whole pass
    cost.observe(_tuned(2, 1), 30.0, [1.0, 20.0], [_epoch(1, 20.0)], fill_rate=0.03, fill_boundary=6)
    assert cost.forward_per_example == pytest.approx(0.03 / (0.5 + 0.5 * 0.912))


def test_the_forward_price_is_the_median_of_the_trials_measurements() -> None:
    """One partial pass scaled up is noisy (BBC 20/class: 14.6 to 24.6 ms per example): the last one
    alone priced the test pass low and let a trial start that ran the search past its budget."""
    cost = CostModel(n_blocks=7, n_train_rows=100, n_val=50)
    assert cost.forward_per_example is None
    for measured in (0.0219, 0.0229, 0.0146):  # trials 5, 6 and 8 of that run, in their order, as whole passes
        fill_rate = measured * 4 / 7  # what their fills below the top 3 of 7 blocks took
        cost.observe(_tuned(3, 1), 15.0, [1.0, 14.0], [_epoch(1, 14.0)], fill_rate=fill_rate, fill_boundary=4)
    assert cost.forward_per_example == pytest.approx(0.0219)
    cost.observe(_tuned(3, 1), seconds=15.0, stage_seconds=[1.0, 14.0], curve=[_epoch(1, 14.0)], fill_rate=None)
    assert cost.forward_per_example == pytest.approx(0.0219)  # a trial that filled nothing measured nothing


def _objective(
    image_dir,
    tmp_path,
    book,
    now: list[float],
    budget_s: float,
    head_kernels: tuple[HeadKernel, ...] = (LINEAR_HEAD,),
    **settings: object,
) -> tuple[Objective, ScriptedRunner]:
    runner = ScriptedRunner(lambda spec: [0.7] * sum(s.epochs for s in spec.stages))
    settings.setdefault("dihedral_views", 1)  # the clean images unless a test searches the views
    config = TuneConfig(
        data=image_dir, out=tmp_path / "out", backbone="resnet18", weights="none", refit=False, **settings
    )
    space = SearchSpace(
        n_blocks=8,
        lr_head=(1e-4, 1e-2),
        lr_backbone=(1e-5, 1e-3),
        max_epochs_per_stage=8,
        dihedral_views=config.view_choices,
        head_kernels=head_kernels,
    )
    objective = Objective(
        config=config,
        space=space,
        book=book,
        runner=runner,
        backbone="resnet18",
        deadline=budget_s,
        events=SilentProgress(),
        n_examples=1200,
        augment=AugmentConfig(),
        clock=lambda: now[0],
        split_sizes=(1000, 200, 0),
    )
    return objective, runner


def test_a_trial_whose_estimate_exceeds_the_time_left_is_not_started(image_dir, tmp_path, book) -> None:
    now = [0.0]
    objective, runner = _objective(image_dir, tmp_path, book, now, budget_s=250.0)
    objective.cost.observe(_tuned(2, 3), 310.0, [10.0, 300.0], [_epoch(0, 10)] + [_epoch(1, 100)] * 3, None)
    now[0] = 50.0  # 200 s left; the plan below needs ~300 s of epochs on top of the fixed cost
    deep = {
        "trainable_blocks": 2,
        "head_c": 1.0,
        "lr_head": 1e-3,
        "lr_backbone": 1e-4,
        "layer_decay": 1.0,
        "tune_epochs": 3,
        "weight_decay": 1e-3,
    }
    trial = optuna.trial.FixedTrial(deep)
    with pytest.raises(optuna.TrialPruned, match="not started: estimated 310 s, 200 s left"):
        objective(trial)
    assert runner.specs == [] and objective.skipped_in_a_row == 1
    assert "not started" in trial.user_attrs["skipped_by_budget"]


def test_sampled_trials_are_drawn_among_those_the_time_left_pays_for(image_dir, tmp_path, book, monkeypatch) -> None:
    """200 s left, a fixed cost of 10 s and 50 s per epoch per block: depths 1-3 fit (3, 1 and 1 epochs),
    4 and up do not. Drawn from the whole range, most proposals could not start (ELPV 4 grades: five
    in a row, and the search stopped with 175 s left)."""
    now = [50.0]
    objective, runner = _objective(image_dir, tmp_path, book, now, budget_s=250.0)
    objective.cost.observe(_tuned(2, 3), 310.0, [10.0, 300.0], [_epoch(0, 10)] + [_epoch(1, 100)] * 3, None)
    assert [objective.cost.epochs_that_fit(k, 200.0) for k in (1, 2, 3, 4, 8)] == [3, 1, 1, 0, 0]
    monkeypatch.setattr(objective.cost, "observe", lambda *args, **kwargs: None)  # the prices stay as above
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=30)
    assert not any("skipped_by_budget" in t.user_attrs for t in study.trials) and objective.skipped_in_a_row == 0
    ran = [(s.stages[-1].trainable_blocks, s.stages[-1].epochs) for s in runner.specs]
    assert len(ran) == 30 and {k for k, _ in ran} == {0, 1, 2, 3}
    assert all(epochs <= {0: 1, 1: 3, 2: 1, 3: 1}[k] for k, epochs in ran)


def test_a_running_trial_stops_before_an_epoch_that_would_not_fit(image_dir, tmp_path, book) -> None:
    """Epochs of 60 s on a fake clock, 200 s left: after the third epoch (at 180 s) a fourth would end past 200 s."""
    now = [0.0]
    objective, runner = _objective(image_dir, tmp_path, book, now, budget_s=200.0)
    play = runner.run

    def timed(spec, callback=None):
        def tick(metrics):
            now[0] += 60.0
            callback(metrics)

        return play(spec, tick)

    runner.run = timed  # type: ignore[method-assign]
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(
        {
            "trainable_blocks": 2,
            "head_c": 1.0,
            "lr_head": 1e-3,
            "lr_backbone": 1e-4,
            "layer_decay": 1.0,
            "tune_epochs": 6,
            "weight_decay": 1e-3,
        }
    )
    study.optimize(objective, n_trials=1)
    (trial,) = study.trials
    assert trial.user_attrs["stopped_by_budget"] and len(trial.user_attrs["curve"]) == 3
    assert now[0] == 180.0  # never past the 200-s deadline


def test_the_one_time_cache_fill_is_not_a_fixed_cost_of_later_trials() -> None:
    """The first head-only trial computes every feature (50 s of its 62); the next ones read the cache."""
    cost = CostModel(n_blocks=8, n_train_rows=1000, n_val=200)
    cost.observe(HEAD, seconds=62.0, stage_seconds=[55.0], curve=[_epoch(0, 5.0)], fill_rate=0.04, fill=50.0)
    assert cost.estimate(HEAD) == pytest.approx(12.0)


def test_the_reserve_holds_back_an_affordable_refit_and_never_one_that_would_starve_the_search(
    image_dir, tmp_path, book
) -> None:
    """Budget 600 s: a head-only winner's refit (its 12 s grown with the data to train + validation,
    on the cached features of both splits; one clean pass more without the cache) is reserved; a
    fine-tuning winner whose refit is priced past a quarter of the budget is not (it is skipped at
    the end instead)."""
    now = [0.0]
    objective, _ = _objective(image_dir, tmp_path, book, now, budget_s=600.0)
    objective.config = objective.config.model_copy(update={"refit": True, "budget_minutes": 10.0})
    objective.n_train, objective.n_val = 1000, SMALL_VALIDATION  # selected on validation: one fit per head
    objective.cost.observe(HEAD, seconds=12.0, stage_seconds=[2.0], curve=[_epoch(0, 2.0)], fill_rate=0.01)
    assert objective.reserve() == 0.0  # nothing selected yet, no test split
    objective.kept_runs = [(HEAD, 12.0, 0.0)]
    rows = 1000 + SMALL_VALIDATION
    head_refit = 12.0 * rows / 1000  # train and validation features come from the cache
    assert objective.reserve() == pytest.approx(head_refit)
    assert objective.time_left() == pytest.approx(600.0 - head_refit)
    objective.config = objective.config.model_copy(update={"cache": False})
    assert objective.reserve() == pytest.approx(head_refit + 0.01 * rows)  # + one clean pass
    objective.config = objective.config.model_copy(update={"cache": True})
    objective.kept_runs = [(_tuned(2, 8), 400.0, 0.0)]  # refit ~480 s + fill > 150 s
    assert objective.reserve() == 0.0
    assert objective.time_left() == pytest.approx(600.0)


def test_the_measuring_frozen_pass_prices_the_first_fine_tuning_epoch(image_dir, tmp_path, book) -> None:
    """Without a prior the first trial's fill and epochs are unpriced (the guard lets them run past the
    deadline); the setup's frozen pass gives the price: 0.02 s per example here."""
    now = [0.0]
    objective, _ = _objective(image_dir, tmp_path, book, now, budget_s=600.0)
    assert objective.cost.epoch(2) is None
    priced = Objective(
        config=objective.config,
        space=objective.space,
        book=book,
        runner=objective.runner,
        backbone="resnet18",
        deadline=600.0,
        events=SilentProgress(),
        n_examples=1200,
        augment=AugmentConfig(),
        clock=lambda: now[0],
        split_sizes=(1000, 200, 0),
        price=PassPrice(seconds_per_example=0.02),
    )
    assert priced.cost.epoch(2) == pytest.approx(0.02 * 1000 * 3 * 2 / 8 + 0.02 * 200 * 2 / 8)
    assert priced.cost.fill(2) == pytest.approx(0.02 * 1200 * 6 / 8)
    priced.kept_runs, priced.n_test = [(HEAD, 5.0, 0.0)], 10_000
    assert priced.reserve() == 0.0  # no trial has measured the forward pass: nothing reserved on the prior


def test_the_rule_plan_starts_even_when_its_estimate_exceeds_the_time_left(image_dir, tmp_path, book) -> None:
    """Trial 0 is the advice being checked: it is never refused up front; the running guard cuts it."""
    from advisor.auto.attrs import TrialAttr

    now = [0.0]
    objective, runner = _objective(image_dir, tmp_path, book, now, budget_s=250.0)
    objective.cost.observe(_tuned(2, 3), 310.0, [10.0, 300.0], [_epoch(0, 10)] + [_epoch(1, 100)] * 3, None)
    now[0] = 50.0
    params = {
        "trainable_blocks": 2,
        "head_c": 1.0,
        "lr_head": 1e-3,
        "lr_backbone": 1e-4,
        "layer_decay": 1.0,
        "tune_epochs": 3,
        "weight_decay": 1e-3,
    }
    refused = optuna.trial.FixedTrial(params)
    with pytest.raises(optuna.TrialPruned, match="not started"):
        objective(refused)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(params, user_attrs={TrialAttr.RULE_PLAN: True})
    study.optimize(objective, n_trials=1)
    (trial,) = study.trials
    assert len(runner.specs) == 1 and "skipped_by_budget" not in trial.user_attrs


def test_on_a_small_validation_split_the_reserve_prices_the_head_the_export_will_hold(
    image_dir, tmp_path, book
) -> None:
    """50 validation examples: the export will be the kept heads (+ TF-IDF) unless a fine-tuning trial
    beats them on validation, so the reserve holds one test pass and the heads' refits, whatever trial
    scored best; a fine-tuning trial that beats the head adds its pass and its refit, a second kept
    head its refit. A head's trial cross-validated it (5 folds and a fit on train): its refit is one fit."""
    now = [0.0]
    objective, _ = _objective(image_dir, tmp_path, book, now, budget_s=600.0)
    objective.config = objective.config.model_copy(update={"refit": True, "budget_minutes": 10.0})
    objective.n_train, objective.n_val, objective.n_test = 100, 50, 1000
    objective.cost.observe(HEAD, seconds=3.0, stage_seconds=[1.0], curve=[_epoch(0, 1.0)], fill_rate=0.01)
    objective.head_vals, objective.tuned_vals = [0.96], [0.94]
    objective.kept_runs = [(_tuned(2, 4), 60.0, 0.0), (HEAD, 3.0, 0.0)]  # best score, but not what is exported
    head_refit = 3.0 / 6 * 150 / 100  # one of its six fits, on the cached features of train + validation
    assert objective.expected_members() == 1
    assert objective.reserve() == pytest.approx(head_refit + 0.01 * 1000)
    objective.tuned_vals.append(0.98)  # this one beats the head on validation: it may join
    assert objective.expected_members() == 2
    tuned_refit = objective.refit_seconds(_tuned(2, 4), 60.0)
    assert tuned_refit == pytest.approx(60.0 * 150 / 100 + 0.01 * 150)
    assert objective.reserve() == pytest.approx(tuned_refit + head_refit + 2 * 0.01 * 1000)
    rbf = HEAD.model_copy(update={"head_kernel": "rbf"})
    objective.kept_runs.append((rbf, 12.0, 0.0))  # level 1 weighs every kept head
    assert objective.expected_members() == 3
    assert [plan for plan, _, _ in objective._members()] == [HEAD, rbf, _tuned(2, 4)]
    assert objective.refit_seconds(rbf, 12.0) == pytest.approx(12.0 / 6 * 150 / 100)


def test_the_reserve_holds_the_refit_of_every_member_the_export_will_hold(image_dir, tmp_path, book) -> None:
    """ELPV 4 grades: three heads on the 4 rotations took 6.1, 14.7 and 117.9 s, 113 of the last
    filling the views; their refits (43 s in all) ran past the budget when the reserve held the best
    one's fixed cost. Each kept member's refit is its fit grown to train + validation; a fine-tuning
    member's refit priced past a quarter of the budget is left out, not the others with it."""
    now = [0.0]
    objective, _ = _objective(image_dir, tmp_path, book, now, budget_s=600.0, dihedral_views=4)
    objective.config = objective.config.model_copy(update={"refit": True, "budget_minutes": 10.0})
    on_4 = HEAD.model_copy(update={"dihedral_views": 4})
    objective.n_complete = 3
    objective.n_train, objective.n_val = 1000, SMALL_VALIDATION  # selected on validation: one fit per head
    objective.kept_runs = [(on_4, 6.1, 0.0), (on_4, 14.7, 0.0), (on_4, 117.9, 113.0)]
    assert objective.expected_members() == 3
    grown = (1000 + SMALL_VALIDATION) / 1000
    assert objective.reserve() == pytest.approx((6.1 + 14.7 + 4.9) * grown)
    objective.kept_runs[1] = (_tuned(2, 8), 400.0, 0.0)  # its refit, ~800 s, would starve the search
    assert objective.reserve() == pytest.approx((6.1 + 4.9) * grown)


def test_the_reserve_holds_the_classical_members_refit_and_test_reading(image_dir, tmp_path, book) -> None:
    """ELPV 4 grades: the pixel member read 1,968 cells in set-up (say 6 s; its refit is one fit on what
    it read, say 7 s), and the run ended at 612 s of 600 with its refit and test reading unpriced."""
    now = [0.0]
    objective, _ = _objective(image_dir, tmp_path, book, now, budget_s=600.0)
    objective.n_train, objective.n_val, objective.n_test = 1575, 393, 656
    before = objective.reserve()
    objective.classical_read_seconds, objective.classical_refit_seconds = 6.0, 7.0
    assert objective.reserve() - before == pytest.approx(6.0 * 656 / 1968)  # refit off: the test reading only
    objective.config = objective.config.model_copy(update={"refit": True})
    refit_on = objective.reserve()
    objective.classical_read_seconds = objective.classical_refit_seconds = 0.0
    assert refit_on - objective.reserve() == pytest.approx(7.0 + 6.0 * 656 / 1968)


def test_the_test_pass_is_priced_as_the_shared_pass_the_ensemble_will_run(image_dir, tmp_path, book) -> None:
    """Three head-only members share the whole frozen backbone: one pass, not three. A member that
    fine-tuned the top 2 of 8 blocks adds those two blocks' share; random weights share nothing."""
    now = [0.0]
    objective, _ = _objective(image_dir, tmp_path, book, now, budget_s=600.0)
    objective.config = objective.config.model_copy(update={"weights": None, "refit": False})
    objective.n_train, objective.n_val, objective.n_test = 1000, SMALL_VALIDATION, 1000  # large validation: top trials
    objective.cost.observe(HEAD, seconds=3.0, stage_seconds=[1.0], curve=[_epoch(0, 1.0)], fill_rate=0.01)
    objective.n_complete = 3
    assert objective.expected_members() == 3
    assert objective.reserve() == pytest.approx(3 * 0.01 * 1000)  # nothing kept yet: every member whole
    objective.kept_runs = _kept((0, 1), (0, 1), (0, 1))
    assert objective.expected_passes() == pytest.approx(1.0)
    assert objective.reserve() == pytest.approx(0.01 * 1000)
    objective.kept_runs = _kept((2, 1), (0, 1), (0, 1))
    assert objective.expected_passes() == pytest.approx(1 + 2 * 2 / 8)
    objective.cost.block_shares = LITE0_SHARES  # measured: the top 2 of Lite0 are 8.8% of its pass
    assert objective.expected_passes() == pytest.approx(1 + 2 * 0.088)
    objective.config = objective.config.model_copy(update={"weights": "none"})
    assert objective.expected_passes() == pytest.approx(3.0)


def test_kept_depths_follow_the_models_the_search_keeps(image_dir, tmp_path, book) -> None:
    now = [0.0]
    objective, _ = _objective(image_dir, tmp_path, book, now, budget_s=10_000.0)
    study = optuna.create_study(direction="maximize")
    tuned = _tuned(2, 1).model_dump(exclude_none=True, exclude={"class_weights"})
    for params in ({"trainable_blocks": 0, "head_c": 1.0}, {"trainable_blocks": 0, "head_c": 0.1}, tuned):
        study.enqueue_trial(params)
    study.optimize(objective, n_trials=3)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 3
    assert sorted(plan.trainable_blocks for plan, _, _ in objective.kept_runs) == [0, 0, 2]


def test_the_kept_candidates_hold_the_best_of_each_kind_before_more_of_one(image_dir, tmp_path, book) -> None:
    """ELPV binary, split 2: heads on the stage statistics at nearby strengths outscored the fine-tuned
    rule plan on validation and filled the three kept places; the ensemble then had nothing to mix.
    Four heads of one kind above a fine-tuning trial: the best head, the fine-tuned trial, the
    next head are kept; a head of another kind (more views) takes the third place. Two other kinds
    of head above the fine-tuned trial (ELPV split 2 again, one place per kind) do not push it out."""
    now = [0.0]
    objective, runner = _objective(
        image_dir, tmp_path, book, now, budget_s=10_000.0, head_kernels=(LINEAR_HEAD, "rbf"), dihedral_views="auto"
    )
    runner.script = lambda spec: (
        [0.95 - spec.stages[0].head_c / 10] if spec.stages[-1].trainable_blocks == 0 else [0.8] * spec.stages[-1].epochs
    )
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    tuned = _tuned(2, 1).model_dump(exclude_none=True, exclude={"class_weights", "dihedral_views", "head_kernel"})
    tuned.pop("head_features")
    for c in (0.1, 0.2, 0.3, 0.4):
        study.enqueue_trial({"trainable_blocks": 0, "head_c": c, "dihedral_views": 1, "head_kernel": LINEAR_HEAD})
    study.enqueue_trial(tuned)
    study.optimize(objective, n_trials=5)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 5
    # In the ensemble candidates' order, what the export holds: the best, the best fine-tuned, the rest.
    assert [(plan.trainable_blocks, plan.head_c) for plan, _, _ in objective.kept_runs] == [
        (0, 0.1),
        (2, 1.0),
        (0, 0.2),
    ]
    study.enqueue_trial({"trainable_blocks": 0, "head_c": 0.4, "dihedral_views": 4, "head_kernel": LINEAR_HEAD})
    study.optimize(objective, n_trials=1)
    kept = [(plan.trainable_blocks, plan.dihedral_views, plan.head_c) for plan, _, _ in objective.kept_runs]
    assert kept == [(0, 1, 0.1), (2, 1, 1.0), (0, 4, 0.4)]
    study.enqueue_trial({"trainable_blocks": 0, "head_c": 0.3, "dihedral_views": 1, "head_kernel": "rbf"})
    study.optimize(objective, n_trials=1)
    kept = [
        (plan.trainable_blocks, plan.head_kernel, plan.dihedral_views, plan.head_c)
        for plan, _, _ in objective.kept_runs
    ]
    # Three kinds of head (0.94, RBF 0.92, 4 views 0.91) rank above the fine-tuned trial (0.8): it keeps
    # the second place and the best of the other kinds the third.
    assert kept == [(0, LINEAR_HEAD, 1, 0.1), (2, LINEAR_HEAD, 1, 1.0), (0, "rbf", 1, 0.3)]


# Four training rows then four validation rows; every head is right on all but the last (the heads' mix: 0.75 on validation).
_OOF_LABELS = [0, 1, 0, 1, 0, 1, 0, 1]
_HEAD_OOF = [[0.6, 0.4], [0.4, 0.6]] * 3 + [[0.6, 0.4], [0.6, 0.4]]


class _CrossValidating(ScriptedRunner):
    """Head-only trials on a small validation split come back cross-validated (3 points above their
    validation score), with out-of-fold probabilities, as `TimmRunner` returns them; every trial
    with validation probabilities (those of `_HEAD_OOF`'s validation rows)."""

    def run(self, spec, callback=None):  # type: ignore[no-untyped-def]
        result = super().run(spec, callback)
        if result.best_val_accuracy is None:
            return result
        result = result.model_copy(update={"val_labels": _OOF_LABELS[4:], "val_probabilities": _HEAD_OOF[4:]})
        if spec.head_cv_folds is None:
            return result
        cv = {"cv_accuracy": result.best_val_accuracy + 0.03, "cv_labels": _OOF_LABELS}
        return result.model_copy(update={**cv, "cv_probabilities": _HEAD_OOF})


def test_out_of_fold_a_fine_tuned_trial_below_the_heads_gives_its_kept_place_to_a_head(
    image_dir, tmp_path, book
) -> None:
    """With heads cross-validated (200 validation examples), a fine-tuned trial joins the export only
    by beating the heads' mix on validation. ELPV 4 grades, split 1: the rule plan (0.700 on
    validation, the heads up to 0.779) kept the second place and the RBF head on the rotations
    was dropped. Below the heads' mix (0.75), it gives its place to the next kind of head; above
    it, it takes the second place again."""
    now = [0.0]
    objective, _ = _objective(
        image_dir, tmp_path, book, now, budget_s=10_000.0, head_kernels=(LINEAR_HEAD, "rbf"), dihedral_views="auto"
    )
    runner = _CrossValidating(
        lambda spec: (
            [0.8 - spec.stages[0].head_c / 10]
            if spec.stages[-1].trainable_blocks == 0
            else [spec.stages[-1].lr_backbone * 1000] * spec.stages[-1].epochs
        )
    )
    objective.runner = runner
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    tuned = _tuned(2, 1).model_dump(exclude_none=True, exclude={"class_weights", "dihedral_views", "head_kernel"})
    tuned.pop("head_features")
    study.enqueue_trial({**tuned, "lr_backbone": 7e-4})  # the rule plan first, 0.70 on validation
    for c, views, kernel in ((0.2, 1, LINEAR_HEAD), (0.3, 1, LINEAR_HEAD), (0.4, 1, "rbf"), (0.5, 4, LINEAR_HEAD)):
        study.enqueue_trial({"trainable_blocks": 0, "head_c": c, "dihedral_views": views, "head_kernel": kernel})
    study.optimize(objective, n_trials=5)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 5
    assert all(t.user_attrs.get("selection") == "cross-validation" for t in study.trials[1:])
    kept = [(p.trainable_blocks, p.head_kernel, p.dihedral_views, p.head_c) for p, _, _ in objective.kept_runs]
    assert kept == [(0, LINEAR_HEAD, 1, 0.2), (0, "rbf", 1, 0.4), (0, LINEAR_HEAD, 4, 0.5)]
    assert not (objective.trial_dir(0) / "model").exists()
    assert objective.expected_members() == 3  # three heads, no fine-tuned trial
    assert objective.fine_tune_bar == 0.75
    # A fine-tuned trial above the heads' mix (0.79 > 0.75 on validation) takes the second place.
    study.enqueue_trial({**tuned, "lr_backbone": 7.9e-4})
    study.optimize(objective, n_trials=1)
    kept = [(p.trainable_blocks, p.head_kernel, p.dihedral_views, p.head_c) for p, _, _ in objective.kept_runs]
    assert kept == [(0, LINEAR_HEAD, 1, 0.2), (2, LINEAR_HEAD, 1, 1.0), (0, "rbf", 1, 0.4)]


def test_out_of_fold_a_fine_tuned_trial_that_beats_every_head_but_not_their_mix_is_not_priced_as_a_member(
    image_dir, tmp_path, book
) -> None:
    """BBC 5/class (25 validation texts): a fine-tuned trial at 0.84 beat every head (up to 0.80) but
    not the heads' mix with TF-IDF (0.88), and the finish left it out; the search priced it as a
    member (its refit, and three passes over 2,175 test texts: 203 s) and stopped with 58% of its
    180 s unspent. Here the heads' mix is 0.75 on validation and the classical member's out-of-fold
    rows are all right: the mix with it is right on every validation row, and a fine-tuned trial
    at 0.79 (above both heads) neither holds a kept place nor counts as a member."""
    from types import SimpleNamespace

    from advisor.auto.stacking import store_classical

    now = [0.0]
    objective, _ = _objective(image_dir, tmp_path, book, now, budget_s=10_000.0)
    objective.runner = _CrossValidating(
        lambda spec: [0.8 - spec.stages[0].head_c / 10] if spec.stages[-1].trainable_blocks == 0 else [0.79] * 2
    )
    right = [[1.0, 0.0] if y == 0 else [0.0, 1.0] for y in _OOF_LABELS]
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    # As `run_search` keeps the classical member's rows with the study, for every worker's bar.
    store_classical(study, SimpleNamespace(name="tfidf", oof_labels=_OOF_LABELS, oof_probs=right))
    tuned = _tuned(2, 1).model_dump(exclude_none=True, exclude={"class_weights", "dihedral_views", "head_kernel"})
    tuned.pop("head_features")
    for c in (0.2, 0.3):
        study.enqueue_trial({"trainable_blocks": 0, "head_c": c, "dihedral_views": 1, "head_kernel": LINEAR_HEAD})
    study.enqueue_trial({**tuned, "tune_epochs": 2})
    study.optimize(objective, n_trials=3)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 3
    assert objective.head_vals == [0.78, 0.77] and objective.tuned_vals == [0.79]
    assert objective.fine_tune_bar == 1.0
    assert [p.trainable_blocks for p, _, _ in objective.kept_runs] == [0, 0, 2]  # last, its place free
    assert objective.expected_members() == 2  # the two heads
    assert all(p.trainable_blocks == 0 for p, _, _ in objective._members())
    # Without the classical member the heads' mix (0.75) is below the fine-tuned trial: it is kept and priced.
    study.set_user_attr(StudyAttr.CLASSICAL_OOF, None)
    objective.classical_oof = None  # the rows it read once: a search's never change, this test's do
    study.enqueue_trial({"trainable_blocks": 0, "head_c": 0.4, "dihedral_views": 1, "head_kernel": LINEAR_HEAD})
    study.optimize(objective, n_trials=1)
    assert objective.fine_tune_bar == 0.75
    assert [p.trainable_blocks for p, _, _ in objective.kept_runs] == [0, 2, 0]
    assert objective.expected_members() == 3
    assert sorted(p.trainable_blocks for p, _, _ in objective._members()) == [0, 0, 2]


def test_a_joining_worker_prices_its_first_trials_with_the_creating_runs_pass(image_dir, tmp_path, book) -> None:
    """A worker makes no measuring pass: without the stored price its first deep trial ran unpriced."""
    from advisor import DatasetProfile, recommend
    from advisor.auto.setup import SearchSetup, as_stored, initialise_study
    from advisor.auto.space import space_for

    profile = DatasetProfile(modality="image", n_examples=2624, n_classes=2)
    rec = recommend(profile, rules=book)
    measured = PassPrice(seconds_per_example=0.041, block_shares=LITE0_SHARES, input_share=0.5)
    setup = SearchSetup(
        config=TuneConfig(data=image_dir, out=tmp_path / "out", backbone="resnet18"),
        profile=profile,
        recommendation=rec,
        backbone="resnet18",
        backbone_note=None,
        space=space_for(rec, book, n_blocks=8, max_epochs_per_stage=8),
        data=None,
        split=None,
        price=measured,
    )
    study = optuna.create_study(direction="maximize")
    initialise_study(study, setup.config, setup)
    joining = as_stored(study, setup.model_copy(update={"price": None}))
    assert joining.price == measured
    cost = CostModel.priced(8, 3150, 393, joining.price)
    assert cost.epoch(2) == pytest.approx(0.041 * 0.5 * 0.088 * (3150 * 3 + 393))  # priced, by the blocks' shares
    # A run that measured on its own machine keeps its own price.
    own = PassPrice(seconds_per_example=0.02)
    assert as_stored(study, setup.model_copy(update={"price": own})).price == own


def test_a_retry_outside_the_searched_range_starts_without_an_optuna_warning(image_dir, tmp_path, book) -> None:
    """A diagnosis's retry scales the rates out of the searched range on purpose (ELPV 4 grades: lr_head
    1e-3 × 0.1 under the range's 3.3e-4); Optuna's warning about it used to reach the terminal."""
    import warnings

    from advisor.auto.attrs import TrialAttr

    objective, runner = _objective(image_dir, tmp_path, book, [0.0], budget_s=600.0)
    study = optuna.create_study(direction="maximize")
    retry = {"trial": 0, "mistake": "accuracy_dropped_after_unfreezing", "factors": {"lr_head": 0.1}}
    params = {"trainable_blocks": 2, "head_c": 1.0, "lr_head": 1e-5, "lr_backbone": 1e-4, "tune_epochs": 1}
    study.enqueue_trial({**params, "layer_decay": 1.0, "weight_decay": 1e-3}, user_attrs={TrialAttr.RETRY_OF: retry})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study.optimize(objective, n_trials=1)
    assert len(runner.specs) == 1 and study.trials[0].params["lr_head"] == 1e-5
    assert not [w for w in caught if "out of range" in str(w.message)]


def test_the_first_head_fit_on_dihedral_views_is_priced_with_the_views_it_adds() -> None:
    """1,200 train + validation examples at 20 ms a pass: the 7 views beyond the clean one cost 168 s,
    once; after the trial that computed them a head fit on 8 or 4 of them costs its fixed seconds
    again. A head on the clean images never pays for views; with only 4 cached, 8 pay for 4 more."""
    on_8 = HEAD.model_copy(update={"dihedral_views": 8})
    on_4 = HEAD.model_copy(update={"dihedral_views": 4})
    cost = CostModel.priced(8, 1000, 200, PassPrice(seconds_per_example=0.02), view_rows=1200)
    assert cost.estimate(on_8) == pytest.approx(168.0)
    assert cost.estimate(on_4) == pytest.approx(72.0)
    assert cost.estimate(HEAD) is None  # nothing measured yet, nothing to compute
    cost.observe(on_4, seconds=80.0, stage_seconds=[78.0], curve=[_epoch(0, 1.0)], fill_rate=0.021, fill=76.0)
    assert cost.estimate(on_4) == pytest.approx(4.0) == cost.estimate(HEAD)
    assert cost.estimate(on_8) == pytest.approx(4.0 + 0.021 * 1200 * 4)  # a fill's rate prices the next one
    cost.observe(on_8, seconds=110.0, stage_seconds=[108.0], curve=[_epoch(0, 1.0)], fill_rate=0.021, fill=101.0)
    assert cost.estimate(on_8) == pytest.approx(cost.overhead())


def test_a_head_fit_whose_views_do_not_fit_the_time_left_is_not_started(image_dir, tmp_path, book) -> None:
    now = [0.0]
    objective, runner = _objective(image_dir, tmp_path, book, now, budget_s=300.0, dihedral_views=8)
    assert objective.cost.view_rows == 1000 + 200
    objective.cost.forward_prior = 0.05  # 420 s of views for 300 s of budget
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"trainable_blocks": 0, "head_c": 1.0})
    study.optimize(objective, n_trials=1)
    (trial,) = study.trials
    assert runner.specs == [] and trial.user_attrs["skipped_by_budget"] == "not started: estimated 420 s, 300 s left"


def test_where_the_rotations_passes_do_not_fit_the_sweep_skips_them_and_the_half_turn_still_runs(
    image_dir, tmp_path, book
) -> None:
    """The sweep queues the 4 rotations before the half turn (`head_sweep`). 1,200 train + validation
    images at 50 ms a pass: the rotations' three missing views cost 180 s, the half turn's one 60 s.
    With 100 s left the budget guard refuses the rotations' heads, and the half turn's, queued after
    them, run: the order loses nothing the old one (half turn first) ran."""
    from advisor.auto.setup import _plain, head_sweep

    now = [200.0]
    objective, runner = _objective(image_dir, tmp_path, book, now, budget_s=300.0, dihedral_views="auto")
    assert objective.space.dihedral_views == (1, 2, 4) and objective.cost.view_rows == 1200
    objective.cost.forward_prior = 0.05
    study = optuna.create_study(direction="maximize")
    for params in head_sweep(objective.space):
        study.enqueue_trial(_plain(params, objective.space))
    study.optimize(objective, n_trials=12)
    queued = [t.params["dihedral_views"] for t in study.trials]
    assert queued == [1] * 4 + [4] * 4 + [2] * 4
    assert [spec.dihedral_views for spec in runner.specs] == [1] * 4 + [2] * 4
    refused = [t.user_attrs.get("skipped_by_budget") for t in study.trials if t.params["dihedral_views"] == 4]
    assert refused == ["not started: estimated 180 s, 100 s left"] * 4


def test_sweep_heads_the_budget_refuses_do_not_count_toward_the_streak_that_ends_the_search(
    image_dir, tmp_path, book
) -> None:
    """ELPV binary, slower CPU: 131 s were left after the rule plan and the cached heads, and the sweep's
    five heads on 4 views (301 s each) were refused in a row, which ended the search as if a sampler
    kept proposing what does not fit. The sweep's queue is finite: its refusals do not count."""
    from advisor.auto.attrs import TrialAttr
    from advisor.auto.search import MAX_SKIPPED_IN_A_ROW

    objective, runner = _objective(image_dir, tmp_path, book, [0.0], budget_s=300.0, dihedral_views=8)
    objective.cost.forward_prior = 0.05  # 420 s of views for 300 s of budget
    study = optuna.create_study(direction="maximize")
    head = {"trainable_blocks": 0, "head_c": 1.0}
    for _ in range(MAX_SKIPPED_IN_A_ROW):
        study.enqueue_trial(head, user_attrs={TrialAttr.SWEEP: True})
    study.optimize(objective, n_trials=MAX_SKIPPED_IN_A_ROW)
    assert all("skipped_by_budget" in t.user_attrs for t in study.trials) and runner.specs == []
    assert objective.skipped_in_a_row == 0
    study.enqueue_trial(head)  # proposed as the sampler would: it counts
    study.optimize(objective, n_trials=1)
    assert "skipped_by_budget" in study.trials[-1].user_attrs and objective.skipped_in_a_row == 1


def test_head_members_on_dihedral_views_cost_a_pass_per_view_at_the_test_split(image_dir, tmp_path, book) -> None:
    """Head-only members share each view's pass (8 in all); a fine-tuning member scores the image as
    it is, view 0, whose frozen blocks it shares with them: it adds its top 2 of 8 blocks, and so
    does a second one. Before a head on views is kept, the passes are the kept trials' own; a head on
    views about to start counts its 8."""
    now = [0.0]
    objective, _ = _objective(image_dir, tmp_path, book, now, budget_s=600.0, dihedral_views=8)
    objective.config = objective.config.model_copy(update={"weights": None})
    objective.n_train, objective.n_val, objective.n_test = 1000, SMALL_VALIDATION, 1000
    objective.n_complete = 1
    objective.kept_runs = _kept((2, 1))  # the rule plan fine-tuned: the heads on views are still to come
    assert objective.expected_passes() == pytest.approx(1.0)
    on_8 = HEAD.model_copy(update={"dihedral_views": 8})
    assert objective.expected_passes(on_8) == pytest.approx(8.0 + 2 / 8)
    objective.n_complete = 3
    objective.kept_runs = _kept((0, 8), (0, 8), (0, 8))
    assert objective.expected_passes() == pytest.approx(8.0)
    objective.kept_runs = _kept((2, 1), (0, 8), (0, 8))
    assert objective.expected_passes() == pytest.approx(8.0 + 2 / 8)
    objective.kept_runs = _kept((2, 1), (2, 1), (0, 8))
    assert objective.expected_passes() == pytest.approx(8.0 + 2 * 2 / 8)


def test_with_views_searched_the_test_passes_of_views_are_counted_once_a_head_on_them_is_kept_or_starts(
    image_dir, tmp_path, book
) -> None:
    """`--dihedral-views auto`: the kept heads' views decide; a head on 4 views about to start is
    counted among the members it would join."""
    now = [0.0]
    objective, _ = _objective(image_dir, tmp_path, book, now, budget_s=600.0, dihedral_views="auto")
    assert objective.space.dihedral_views == (1, 2, 4)
    objective.config = objective.config.model_copy(update={"weights": None})
    objective.n_complete = 3
    objective.kept_runs = _kept((0, 1), (0, 1), (0, 1))
    assert objective.expected_passes() == pytest.approx(1.0)
    assert objective.expected_passes(HEAD.model_copy(update={"dihedral_views": 4})) == pytest.approx(4.0)
    objective.kept_runs = _kept((0, 1), (0, 4), (0, 1))
    assert objective.expected_passes() == pytest.approx(4.0)


def test_after_a_long_rule_plan_the_cached_heads_still_run_and_a_head_on_views_pays_for_its_test_passes(
    image_dir, tmp_path, book
) -> None:
    """ELPV binary on a slower CPU: the rule plan (top 2 of 8 blocks) ended at 500 s of 600 with 40 ms a
    pass. The reserve held the test pass of 4 views (107 s) for heads on views not yet run, and the
    search stopped with 99 s left and its cached head fits waiting. Now the kept rule plan's one pass
    (26 s) is held: a head on the cached clean features runs; a head on 4 views is refused, its 3
    views' fill (144 s) and the 3 more test passes it would bring (79 s) counted."""
    now = [0.0]
    objective, runner = _objective(image_dir, tmp_path, book, now, budget_s=600.0, dihedral_views="auto")
    objective.config = objective.config.model_copy(update={"weights": None})
    objective.n_test = 656
    rule_plan = _tuned(2, 8)
    objective.cost.observe(
        rule_plan, 337.0, [1.0, 336.0], [_epoch(0, 1.0)] + [_epoch(1, 25.0)] * 8, 0.03, fill=130.0, fill_boundary=6
    )
    assert objective.cost.forward_per_example == pytest.approx(0.04)  # 30 ms below the top 2 of 8 blocks
    objective.kept_runs, objective.n_complete, objective.tuned_vals = [(rule_plan, 337.0, 130.0)], 1, [0.865]
    now[0] = 500.0
    assert objective.reserve() == pytest.approx(0.04 * 656)  # the rule plan's refit (> 150 s) is not held
    assert objective.time_left() == pytest.approx(100.0 - 0.04 * 656)
    study = optuna.create_study(direction="maximize")
    on_4 = {"trainable_blocks": 0, "head_c": 1.0, "dihedral_views": 4}
    study.enqueue_trial({"trainable_blocks": 0, "head_c": 1.0, "dihedral_views": 1})
    study.enqueue_trial(on_4)
    study.optimize(objective, n_trials=2)
    clean, views = study.trials
    assert clean.state == optuna.trial.TrialState.COMPLETE and len(runner.specs) == 1
    fill, passes = 0.04 * 1200 * 3, 0.04 * 656 * 3
    assert views.user_attrs["skipped_by_budget"] == (
        f"not started: estimated {fill + passes:.0f} s ({passes:.0f} s of it to finish with it), "
        f"{objective.time_left():.0f} s left"
    )
    # With the time for its fill but not for its test passes, it is still refused.
    now[0] = 600.0 - objective.reserve() - (fill + passes / 2)
    study.enqueue_trial(on_4)
    study.optimize(objective, n_trials=1)
    assert "to finish with it" in study.trials[-1].user_attrs["skipped_by_budget"] and len(runner.specs) == 1
    now[0] -= passes
    study.enqueue_trial(on_4)
    study.optimize(objective, n_trials=1)
    assert len(runner.specs) == 2


# MiniLM-L6's blocks (embeddings, then 6 layers) as BBC 5/class's measuring pass timed them; inputs 0.18%.
MINILM_SHARES = (0.0027, 0.1733, 0.1660, 0.1609, 0.1677, 0.1606, 0.1688)


def test_a_fill_of_a_sliver_of_the_pass_does_not_price_the_whole_pass() -> None:
    """BBC 5/class: a trial fine-tuning the top 6 layers filled its boundary (the inputs and the
    embeddings, 0.44% of the pass) at 2.6 ms a text; scaled up that is 595 ms a text, where the export
    scored the test split at 20 ms. Another trial's fill below the top 4 (34% of the pass) prices it."""
    cost = CostModel(n_blocks=7, n_train_rows=25, n_val=25, block_shares=MINILM_SHARES, input_share=0.0018)
    cost.observe(_tuned(6, 1), 13.0, [0.3, 11.7], [_epoch(1, 1.5)], fill_rate=0.00263, fill_boundary=1)
    assert 1 - cost.top_share(6) == pytest.approx(0.0045, abs=2e-4)
    assert cost.forward_per_example is None
    cost.observe(_tuned(4, 1), 3.3, [0.3, 1.7], [_epoch(1, 1.5)], fill_rate=0.0092, fill_boundary=3)
    assert cost.forward_per_example == pytest.approx(0.0092 / (1 - cost.top_share(4)))
    assert 0.02 < cost.forward_per_example < 0.03


def test_a_trial_is_diagnosed_on_the_examples_it_trained_on(image_dir, tmp_path, book) -> None:
    """BBC 5/class: 25 training texts of 2,225; the diagnosis said 'trained on 2225 examples'."""
    now = [0.0]
    objective, _ = _objective(image_dir, tmp_path, book, now, budget_s=10_000.0)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"trainable_blocks": 0, "head_c": 1.0})
    study.optimize(objective, n_trials=1)
    assert objective.n_examples == 1200 and study.trials[0].user_attrs["observation"]["n_examples"] == 1000


def test_a_trials_own_test_pass_costs_a_pass_per_view_it_predicts_on(image_dir, tmp_path, book) -> None:
    """The selected trial's own model is scored beside the export only when its pass fits: a head on
    the 4 rotations runs 4 passes over the test split, a fine-tuned model one."""
    from advisor.auto.attrs import TrialAttr
    from advisor.auto.publish import scoring_seconds

    objective, _ = _objective(image_dir, tmp_path, book, [0.0], budget_s=600.0)
    objective.cost.forwards = [0.02]

    def trial(plan: TrialPlan) -> optuna.trial.FrozenTrial:
        return optuna.trial.create_trial(value=0.8, user_attrs={TrialAttr.PLAN: plan.model_dump()})

    assert scoring_seconds(trial(HEAD.model_copy(update={"dihedral_views": 4})), objective, 656) == pytest.approx(
        0.02 * 656 * 4
    )
    assert scoring_seconds(trial(_tuned(2, 4)), objective, 656) == pytest.approx(0.02 * 656)
