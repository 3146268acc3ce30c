"""Properties over the whole input space (hypothesis): every valid profile gets exactly one strategy."""

from __future__ import annotations

from typing import get_args

from hypothesis import given, settings
from hypothesis import strategies as st

from advisor import DatasetProfile, recommend
from advisor.engine.loader import load_rulebook
from advisor.engine.rulebook import RuleBook
from advisor.profile import Hardware, Modality, Priority, Similarity, Task
from advisor.recommendation import STRATEGIES

BOOK: RuleBook = load_rulebook()
CAP_BANDS = [{b.id for b in cap.bands} for cap in BOOK.strategy.caps]
WANT_IDS = {level.id for level in BOOK.strategy.want.levels}


@st.composite
def profiles(draw: st.DrawFn) -> DatasetProfile:
    task = draw(st.sampled_from(get_args(Task)))
    n_examples = draw(st.integers(min_value=1, max_value=10_000_000))
    n_classes = None
    if task == "classification" or draw(st.booleans()):
        n_classes = draw(st.integers(min_value=2, max_value=max(2, min(n_examples, 5000))))
        if n_classes > n_examples:
            n_examples = n_classes
    return DatasetProfile(
        modality=draw(st.sampled_from(get_args(Modality))),
        task=task,
        n_examples=n_examples,
        n_classes=n_classes,
        similarity=draw(st.sampled_from(get_args(Similarity))),
        priority=draw(st.sampled_from(get_args(Priority))),
        hardware=draw(st.sampled_from(get_args(Hardware))),
    )


@settings(max_examples=400, deadline=None)
@given(profiles())
def test_exactly_one_strategy(profile: DatasetProfile) -> None:
    rec = recommend(profile, rules=BOOK)
    fired = {r.rule for r in rec.rationale}
    assert rec.strategy in STRATEGIES
    for bands in CAP_BANDS:
        assert len(fired & bands) == 1  # exactly one band of each data-size table
    assert len(fired & WANT_IDS) == 1
    assert (rec.strategy == "feature_extraction") == (rec.trainable_fraction == 0.0)
    assert (rec.strategy == "full_fine_tune") == (rec.trainable_fraction == 1.0 and rec.pretrained)
    assert rec.stages[-1].trainable_fraction == rec.trainable_fraction
    assert [s.trainable_fraction for s in rec.stages] == sorted(s.trainable_fraction for s in rec.stages)
    for stage in rec.stages:
        assert (stage.lr_backbone is None) == (stage.trainable_fraction == 0.0)
    assert rec.backbone.model_id in {m.model_id for m in BOOK.zoo.models if m.modality == profile.modality}


@settings(max_examples=200, deadline=None)
@given(profiles(), st.integers(min_value=1, max_value=100))
def test_more_data_never_trains_fewer_layers(profile: DatasetProfile, factor: int) -> None:
    """Question 1 and the Decision Path only ever unfreeze more as data grows."""
    bigger = profile.model_copy(
        update={"n_examples": profile.n_examples * factor, "examples_per_class": profile.examples_per_class * factor}
    )
    small, large = recommend(profile, rules=BOOK), recommend(bigger, rules=BOOK)
    assert large.trainable_fraction >= small.trainable_fraction


@settings(max_examples=200, deadline=None)
@given(profiles())
def test_more_similar_never_trains_more_layers(profile: DatasetProfile) -> None:
    """Question 2: the closer the domain, the less needs to change."""
    fractions = [
        recommend(profile.model_copy(update={"similarity": level}), rules=BOOK).trainable_fraction
        for level in get_args(Similarity)
    ]
    assert fractions == sorted(fractions)
