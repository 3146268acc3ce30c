"""Tests for stratified, seeded, recorded splits."""

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runners.data import LabelledData
from runners.data.splits import stratified_split
from runners.errors import DataError


def _data(counts: dict[str, int]) -> LabelledData:
    labels = [c for c, n in counts.items() for _ in range(n)]
    return LabelledData(inputs=list(range(len(labels))), labels=labels, ids=[f"id{i}" for i in range(len(labels))])


def test_same_seed_same_split_and_different_seed_differs():
    data = _data({"a": 40, "b": 20})
    s1, s2 = stratified_split(data, (0.7, 0.15, 0.15), 1), stratified_split(data, (0.7, 0.15, 0.15), 1)
    s3 = stratified_split(data, (0.7, 0.15, 0.15), 2)
    assert (s1.train, s1.val, s1.test) == (s2.train, s2.val, s2.test)
    assert s1.val != s3.val


def test_stratified_proportions():
    data = _data({"a": 40, "b": 20})
    s = stratified_split(data, (0.5, 0.25, 0.25), 0)
    assert Counter(data.labels[i] for i in s.val) == {"a": 10, "b": 5}


def test_too_few_examples_are_refused_with_numbers():
    with pytest.raises(DataError, match=r"class 'b' has 2 example\(s\).*needs at least 3"):
        stratified_split(_data({"a": 10, "b": 2}), (0.7, 0.15, 0.15), 0)


def test_split_is_saved_as_json(tmp_path: Path):
    data = _data({"a": 10, "b": 10})
    s = stratified_split(data, (0.6, 0.2, 0.2), 5)
    saved = json.loads(s.save(tmp_path / "split.json", data).read_text())
    assert saved["seed"] == 5 and saved["val"] == [data.ids[i] for i in s.val]


def test_presplit_without_val_carves_val_from_train():
    data = _data({"a": 10, "b": 10})
    data.presplit = ["train"] * 8 + ["test"] * 2 + ["train"] * 8 + ["test"] * 2
    s = stratified_split(data, (0.7, 0.15, 0.15), 0)
    assert len(s.test) == 4 and len(s.val) >= 2 and not set(s.val) & set(s.train)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from("abcde"), st.integers(3, 30), min_size=2), st.integers(0, 10))
def test_split_is_a_partition_with_every_class_everywhere(counts, seed):
    data = _data(counts)
    s = stratified_split(data, (0.7, 0.15, 0.15), seed)
    assert sorted(s.train + s.val + s.test) == list(range(len(data.labels)))
    for part in (s.train, s.val, s.test):
        assert {data.labels[i] for i in part} == set(counts)
