"""Trial 0 is the recommendation: its stages, field by field, in the spec the search hands the runner.

The guide's progressive schedule ("Progressive Fine-tuning Strategy › Recommended Fine-tuning
Schedule") and its Common-Mistakes advice on augmentation are what the rule plan must run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.auto.config import TuneConfig
from advisor.auto.space import HEAD_C_DEFAULT, SearchSpace, TrialPlan
from advisor.auto.trial_specs import augment_config, epochs_note, rule_plan_spec, stage_blocks, trial_spec
from advisor.engine.recommend import recommend
from advisor.profile import DatasetProfile
from advisor.recommendation import Recommendation


def _rec(modality: str, n: int, similarity: str) -> Recommendation:
    profile = DatasetProfile(
        modality=modality, n_examples=n, n_classes=4, smallest_class=n // 4, largest_class=n // 4, similarity=similarity
    )
    return recommend(profile)


@pytest.mark.parametrize(
    ("modality", "n", "similarity", "n_stages"),
    [
        ("image", 300, "very_similar", 1),  # feature extraction
        ("image", 3000, "similar", 2),  # head, then the top 20%
        ("image", 20000, "different", 3),  # head, top block, then half
        ("text", 3000, "similar", 1),  # the BERT pipeline's one warmed-up stage
    ],
)
def test_the_rule_plan_spec_is_the_recommendation_stage_by_stage(tmp_path, modality, n, similarity, n_stages) -> None:
    rec = _rec(modality, n, similarity)
    assert len(rec.stages) == n_stages
    config = TuneConfig(data=tmp_path, out=tmp_path / "out", max_epochs_per_stage=100)
    n_blocks = 8
    spec = rule_plan_spec(rec, config, "b", n_blocks, None, augment_config(rec, modality))
    assert len(spec.stages) == len(rec.stages)
    assert spec.early_stopping_patience is None and spec.weights is None  # stages carry their own; pretrained
    for stage, ran in zip(rec.stages, spec.stages, strict=True):
        if stage.trainable_fraction == 0:  # the one change: the head stage is a converged fit
            assert ran.converged_head and ran.head_c == HEAD_C_DEFAULT
            continue
        assert ran.trainable_blocks == max(1, round(stage.trainable_fraction * n_blocks))
        assert ran.epochs == stage.epochs
        assert ran.lr_head == stage.lr_head and ran.lr_backbone == stage.lr_backbone
        assert ran.layer_decay == stage.layer_decay(ran.trainable_blocks)
        assert ran.warmup_fraction == stage.warmup_ratio
        assert ran.early_stopping_patience == stage.early_stopping_patience
        assert ran.weight_decay == stage.weight_decay
        expected = "plateau" if stage.reduce_lr_on_plateau else ("cosine" if stage.warmup_ratio > 0 else "none")
        assert ran.scheduler == expected


def test_the_guide_s_augmentations_are_switched_on_rotation_included_and_only_for_small_image_sets(tmp_path) -> None:
    small = augment_config(_rec("image", 3000, "similar"), "image")
    assert small.enabled and small.rotation and small.flip and small.crop and small.color_jitter
    assert not augment_config(_rec("image", 20000, "different"), "image").enabled  # 5,000 or more: none asked
    assert not augment_config(_rec("text", 300, "similar"), "text").enabled  # the image advice never reaches text


def test_from_scratch_starts_from_random_weights(tmp_path) -> None:
    rec = _rec("image", 200000, "very_different")
    assert rec.strategy == "from_scratch" and not rec.pretrained
    config = TuneConfig(data=tmp_path, out=tmp_path / "out", weights=str(tmp_path / "w.safetensors"))
    spec = rule_plan_spec(rec, config, "b", 8, None, augment_config(rec, "image"))
    assert spec.weights == "none" and spec.stages[0].trainable_blocks == 8


def test_the_epoch_cap_is_the_only_change_to_a_stage_and_the_note_says_what_ran(tmp_path) -> None:
    rec = _rec("image", 3000, "similar")  # 10 + 20 epochs
    config = TuneConfig(data=tmp_path, out=tmp_path / "out", max_epochs_per_stage=8)
    spec = rule_plan_spec(rec, config, "b", 8, None, augment_config(rec, "image"))
    assert spec.stages[1].epochs == 8 and spec.stages[1].lr_backbone == rec.stages[1].lr_backbone
    assert epochs_note(rec, [1, 6]) == "The plan asks 10 + 20 epochs; the search ran a converged head fit + 6."
    assert epochs_note(rec, [1]) == "The plan asks 10 + 20 epochs; the search ran a converged head fit + 0."
    text = _rec("text", 3000, "similar")  # 3 epochs, no head stage
    assert epochs_note(text, [3]) is None and epochs_note(text, [2]) == "The plan asks 3 epochs; the search ran 2."


def test_stage_blocks_trains_at_least_one_block_and_never_more_than_there_are() -> None:
    rec = _rec("image", 3000, "similar")
    assert stage_blocks(rec.stages[0], 8) == 0 and stage_blocks(rec.stages[1], 3) == 1
    assert stage_blocks(rec.stages[1].model_copy(update={"trainable_fraction": 1.0}), 8) == 8


def test_the_search_hands_the_runner_the_rule_plan_spec_for_trial_0(monkeypatch, image_dir: Path, tmp_path) -> None:
    """The scripted runner sees trial 0's stages exactly as the recommendation has them (a two-stage
    plan is forced: 40 test images alone would only ever get feature extraction)."""
    import advisor.auto.search as search
    import advisor.auto.setup as setup
    import runners

    from .conftest import ScriptedRunner

    rec = _rec("image", 3000, "similar")  # head, then the top 20% for 20 epochs on plateau, augmented
    runner = ScriptedRunner(lambda spec: [0.6] * sum(1 if s.converged_head else s.epochs for s in spec.stages))
    monkeypatch.setattr(runners, "get_runner", lambda modality, **kw: runner)
    monkeypatch.setattr(setup, "recommend", lambda profile, rules=None: rec)
    config = TuneConfig(
        data=image_dir,
        out=tmp_path / "out",
        backbone="resnet18",
        weights="none",
        trials=1,
        similarity="similar",
        max_epochs_per_stage=4,
    )
    report = search.run_search(config)
    (first,) = runner.specs
    head, top = first.stages
    assert head.converged_head and head.head_c == HEAD_C_DEFAULT
    stage = rec.stages[1]
    assert (top.trainable_blocks, top.epochs) == (1, 4)  # 20% of 6 blocks; 20 epochs capped at 4
    assert (top.lr_head, top.lr_backbone, top.scheduler) == (stage.lr_head, stage.lr_backbone, "plateau")
    assert top.early_stopping_patience == stage.early_stopping_patience == 5
    assert first.min_stage_gain == 0.01  # the guide: a stage that adds under 1% gets no deeper successor
    assert first.augment.enabled and first.augment.rotation  # the guide's aggressive augmentation
    # The report says what ran against what was asked, and sets the rung's promise beside it.
    assert report.promise is not None and report.promise.plan_trial == 0
    assert report.promise.epochs == "The plan asks 10 + 20 epochs; the search ran a converged head fit + 4."
    assert report.promise.expected_accuracy == (0.85, 0.90) and report.promise.held is False  # 0.6 measured
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert report.promise.verdict in markdown and report.promise.epochs in markdown


def test_the_note_says_which_stages_a_small_gain_left_out(tmp_path) -> None:
    rec = _rec("image", 20000, "different")  # head, the top block, then half: three stages
    asked = " + ".join(str(s.epochs) for s in rec.stages)
    note = epochs_note(rec, [1, 4], skipped=1)
    assert note == (
        f"The plan asks {asked} epochs; the search ran a converged head fit + 4 + 0. The last stage did not run: "
        "the stage before added under 1% validation accuracy (the guide: stop when a stage adds under 1%)."
    )


def test_the_guide_s_one_percent_is_the_floor_a_stage_must_clear() -> None:
    from advisor.engine.loader import load_rulebook

    # "Fine-tuning Results & Expectations": stop when a stage adds under 1%.
    assert load_rulebook().mistakes.stage_gain_floor() == pytest.approx(0.01)


def test_a_retry_of_the_rule_plan_runs_its_stages_at_the_scaled_rates(tmp_path) -> None:
    """'Accuracy drops after unfreezing → divide the LR by 10': the variant of trial 0 is the whole
    recommendation again (every stage, its schedule and patience), only the rates ÷ 10."""
    from types import SimpleNamespace

    from advisor.auto.objective import Objective
    from advisor.auto.progress import SilentProgress
    from advisor.auto.space import TrialPlan, space_for
    from advisor.engine.loader import load_rulebook

    rec = _rec("image", 20000, "different")  # three stages
    book = load_rulebook()
    config = TuneConfig(data=tmp_path, out=tmp_path / "out", max_epochs_per_stage=8)
    objective = Objective(
        config=config,
        space=space_for(rec, book, 8, 8),
        book=book,
        runner=None,
        backbone="b",
        deadline=600.0,
        events=SilentProgress(),
        n_examples=20000,
        augment=augment_config(rec, "image"),
        recommendation=rec,
    )
    plan = TrialPlan(trainable_blocks=1, head_c=HEAD_C_DEFAULT, lr_head=1e-3, lr_backbone=1e-4, tune_epochs=8)
    original = objective.spec_for(SimpleNamespace(user_attrs={"rule_plan": True}), plan, None)
    retry = {
        "trial": 0,
        "mistake": "accuracy_dropped_after_unfreezing",
        "factors": {"lr_head": 0.1, "lr_backbone": 0.1},
    }
    variant = objective.spec_for(SimpleNamespace(user_attrs={"retry_of": {**retry, "rule_plan": True}}), plan, None)
    assert len(variant.stages) == len(original.stages) == 3
    for before, after in zip(original.stages[1:], variant.stages[1:], strict=True):
        assert after.lr_head == pytest.approx(before.lr_head * 0.1)
        assert after.lr_backbone == pytest.approx(before.lr_backbone * 0.1)
        assert after.model_dump(exclude={"lr_head", "lr_backbone"}) == before.model_dump(
            exclude={"lr_head", "lr_backbone"}
        )
    # A retry of a sampled trial stays the sampled plan: head, then one stage.
    sampled = objective.spec_for(SimpleNamespace(user_attrs={"retry_of": retry}), plan, None)
    assert len(sampled.stages) == 2 and sampled.stages[1].lr_backbone == 1e-4


def test_dihedral_views_go_to_head_only_trials_and_only_on_images(tmp_path) -> None:
    from pydantic import ValidationError

    from runners import AugmentConfig

    images = tmp_path / "images"
    (images / "a").mkdir(parents=True)
    (images / "a" / "x.png").write_bytes(b"")
    config = TuneConfig(data=images, out=tmp_path / "out", dihedral_views=8)
    head = trial_spec(TrialPlan(trainable_blocks=0, head_c=0.1, dihedral_views=8), config, "b", None, AugmentConfig())
    assert head.dihedral_views == 8
    tuned = TrialPlan(trainable_blocks=2, head_c=0.1, lr_head=1e-3, lr_backbone=1e-4, tune_epochs=2, dihedral_views=8)
    lp_ft = trial_spec(tuned, config, "b", None, AugmentConfig())
    assert lp_ft.dihedral_views == 1 and lp_ft.stages[0].converged_head  # its head stage sees the clean images
    rec = _rec("image", 300, "very_similar")  # feature extraction: a head-only rule plan
    augment = augment_config(rec, "image")
    assert rule_plan_spec(rec, config, "b", 8, None, augment, dihedral_views=8).dihedral_views == 8
    assert rule_plan_spec(rec, config, "b", 8, None, augment).dihedral_views == 1
    texts = tmp_path / "texts.csv"
    texts.write_text("text,label\nhello,a\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="dihedral_views turns images"):
        TuneConfig(data=texts, out=tmp_path / "out", dihedral_views=4)
    # What head-only plans may use: the count asked for; by default ("auto") 1 or 4 on images, 1 on texts.
    assert config.view_choices == (8,)
    assert TuneConfig(data=images, out=tmp_path / "out").view_choices == (1, 2, 4)
    assert TuneConfig(data=images, out=tmp_path / "out", dihedral_views=1).view_choices == (1,)
    assert TuneConfig(data=texts, out=tmp_path / "out").view_choices == (1,)


def test_searched_views_are_a_choice_of_head_only_plans_and_the_rule_plan_keeps_the_clean_images() -> None:
    from optuna.trial import FixedTrial

    from advisor.auto.space import rule_plan_params

    space = SearchSpace(
        n_blocks=8, lr_head=(1e-4, 1e-2), lr_backbone=(1e-5, 1e-3), max_epochs_per_stage=4, dihedral_views=(1, 4)
    )
    head = space.suggest(FixedTrial({"trainable_blocks": 0, "head_c": 0.1, "dihedral_views": 4}))
    assert head.dihedral_views == 4
    deep = {"trainable_blocks": 2, "head_c": 0.1, "lr_head": 1e-3, "lr_backbone": 1e-4, "layer_decay": 1.0}
    tuned = space.suggest(FixedTrial({**deep, "tune_epochs": 2, "weight_decay": 1e-3}))
    assert tuned.dihedral_views == 1  # fine-tuning trains on the images as they are; nothing is asked
    fixed = space.model_copy(update={"dihedral_views": (8,)})
    assert fixed.suggest(FixedTrial({"trainable_blocks": 0, "head_c": 0.1})).dihedral_views == 8
    rec = _rec("image", 300, "very_similar")  # feature extraction: a head-only rule plan
    assert rule_plan_params(rec, space)["dihedral_views"] == 1
    assert "dihedral_views" not in rule_plan_params(rec, fixed)
