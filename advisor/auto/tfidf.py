"""The TF-IDF + logistic-regression member of a text search's ensemble, fitted before the trials.

It is priced by doing it first. At the end of the search no reserve held it: cross-validating it on
BBC 20/class took 20 s of a 3-minute budget there, and the run overshot by 12% (`bench_peers.py`,
2 CPU cores). Fitted during set-up, its seconds come off the trials' time like the data scan's, and
the finishing phase only weighs it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from advisor.auto.config import TuneConfig
from advisor.auto.objective import CV_FOLDS, SMALL_VALIDATION
from advisor.profiling.progress import Progress, staged

TFIDF_MEMBER = "tfidf"


class TfidfMember(BaseModel):
    """The fitted member and the predictions the finishing phase weighs it on."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    model: Any = Field(description="The runners' TfidfLinearModel, fitted on the training texts at the chosen C.")
    val_probs: Any = Field(description="Its probabilities on the validation texts, (n_val, n_classes).")
    oof_labels: Any = Field(
        None, description="Class ids of train then validation, when C was cross-validated (small validation)."
    )
    oof_probs: Any = Field(None, description="Out-of-fold probabilities over those rows at the chosen C.")


def fit_tfidf_member(config: TuneConfig, data: Any, split: Any, progress: Progress | None = None) -> TfidfMember | None:
    """The member for a text search with the ensemble on and a validation split; else None.

    On a validation split under `SMALL_VALIDATION` examples, C is chosen by cross-validation over
    train + validation with the folds the head-only trials use (`cv_folds`, the search's seed), so the
    out-of-fold predictions line up row for row with theirs; otherwise C is chosen on validation.
    Either way the model is fitted on the training texts only: validation stays held out until refit.
    """
    if config.data_modality != "text" or not config.ensemble or not split.val:
        return None
    from runners.classical import cross_validate_tfidf, fit_tfidf_at, fit_tfidf_linear
    from runners.training.head import cv_folds

    classes = list(split.class_names)
    train_x, train_y = [data.inputs[i] for i in split.train], [data.labels[i] for i in split.train]
    val_x, val_y = [data.inputs[i] for i in split.val], [data.labels[i] for i in split.val]
    step = staged(progress, "TF-IDF member")
    labels = np.array([classes.index(label) for label in train_y + val_y], dtype=np.int64)
    if len(split.val) >= SMALL_VALIDATION or np.bincount(labels, minlength=len(classes)).min() < 2:
        # Large validation, or a class too rare to leave out of a fold: C is chosen on validation.
        if step is not None:
            step(0, 1)
        model = fit_tfidf_linear(train_x, train_y, val_x, val_y, classes)
        if step is not None:
            step(1, 1)
        return TfidfMember(model=model, val_probs=model.predict_proba(val_x))
    folds = cv_folds(labels, CV_FOLDS, config.seed)
    scored = cross_validate_tfidf(train_x + val_x, train_y + val_y, classes, folds, progress=step)
    model = fit_tfidf_at(train_x, train_y, classes, scored.c)
    model.val_accuracy = scored.accuracy
    return TfidfMember(
        model=model, val_probs=model.predict_proba(val_x), oof_labels=labels, oof_probs=scored.probabilities
    )
