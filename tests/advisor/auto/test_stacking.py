"""Level 1 of out-of-fold selection as the search and its workers see it (`advisor.auto.stacking`)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import optuna
import pytest

from advisor.auto.attrs import TrialAttr
from advisor.auto.stacking import MAX_STORED_OOF, fine_tune_bar, store_classical, stored_classical


def _trial(number: int, plan: dict, **attrs: object) -> SimpleNamespace:
    return SimpleNamespace(number=number, user_attrs={TrialAttr.PLAN: plan, **attrs})


def test_a_worker_reads_the_classical_members_rows_the_creating_run_stored(tmp_path) -> None:
    """Workers that run trials only do not fit the classical member; they read its out-of-fold rows
    from the study, so that their bar for a fine-tuned trial is the creating run's. A worker that
    finishes fits the member again (maybe on another machine): the creating run's rows stay. Past
    `MAX_STORED_OOF` rows (or without any) nothing is stored, as for a trial's own out-of-fold rows."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage)
    probs = np.array([[0.1234567, 0.8765433], [0.5, 0.5], [1.0, 0.0]])
    store_classical(study, SimpleNamespace(name="pixels", oof_labels=np.array([1, 0, 0]), oof_probs=probs))
    refitted = SimpleNamespace(name="pixels", oof_labels=np.array([1, 0, 0]), oof_probs=np.full((3, 2), 0.5))
    store_classical(optuna.load_study(study_name="s", storage=storage), refitted)
    joined = stored_classical(optuna.load_study(study_name="s", storage=storage))
    assert joined is not None and joined.name == "pixels"
    assert joined.oof_labels.tolist() == [1, 0, 0]
    np.testing.assert_allclose(joined.oof_probs, probs, atol=1e-6)
    other = optuna.create_study()
    store_classical(other, None)
    store_classical(other, SimpleNamespace(name="tfidf", oof_labels=np.zeros(3), oof_probs=None))
    many = np.zeros(MAX_STORED_OOF + 1, dtype=np.int64)
    store_classical(other, SimpleNamespace(name="tfidf", oof_labels=many, oof_probs=np.ones((len(many), 2)) / 2))
    assert stored_classical(other) is None


def test_the_bar_is_the_heads_mix_with_the_classical_member_on_the_validation_rows() -> None:
    """Two training rows then four validation rows. The two heads are each right on three of the four
    validation rows, wrong on different ones; the classical member is wrong on one of them. The
    bar is the level-1 mix's validation accuracy over the kept heads and the classical member, not
    the best head's validation accuracy; a fine-tuned trial does not enter it; without a
    cross-validated head there is none."""
    y = [0, 1, 0, 1, 0, 1]
    sure = {0: [0.9, 0.1], 1: [0.1, 0.9]}
    a = [sure[c] for c in y[:5]] + [[0.6, 0.4]]  # wrong on the last validation row
    b = [sure[c] for c in y[:2]] + [[0.4, 0.6]] + [sure[c] for c in y[3:]]  # wrong on the first
    head = {"trainable_blocks": 0, "head_c": 1.0}
    heads = [
        _trial(n, head | {"head_c": c}, **{TrialAttr.CV_PROBS: p, TrialAttr.CV_LABELS: y, TrialAttr.VAL_LABELS: y[2:]})
        for n, c, p in ((1, 1.0, a), (2, 0.5, b))
    ]
    tuned = _trial(3, {"trainable_blocks": 2, "head_c": 1.0}, **{TrialAttr.VAL_LABELS: y[2:]})
    # Alone each head scores 0.75 on validation; their mean is right on all four rows.
    assert fine_tune_bar([*heads, tuned], keep=3) == 1.0
    wrong_third = [sure[c] for c in y[:4]] + [[0.2, 0.8], sure[1]]  # wrong on validation row 3 only
    classical = SimpleNamespace(name="pixels", oof_labels=np.array(y), oof_probs=np.array(wrong_third))
    assert fine_tune_bar([heads[0], tuned], keep=3, classical=classical) == pytest.approx(1.0)
    assert fine_tune_bar([heads[0], tuned], keep=3) == 0.75
    assert fine_tune_bar([tuned], keep=3) is None
