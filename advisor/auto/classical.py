"""The classical member of a search's ensemble, fitted before the trials: TF-IDF + logistic
regression for text (`runners.classical`), kernel logistic regression on raw pixels for images
(`runners.pixels`). Each is what a practitioner would try first without a backbone, so the
ensemble is never below it on validation.

It is priced by doing it first. At the end of the search no reserve held it: cross-validating the
TF-IDF member on BBC 20/class took 20 s of a 3-minute budget there, and the run overshot by 12%
(`bench_peers.py`, 2 CPU cores). Fitted during set-up, its seconds come off the trials' time like
the data scan's, and the finishing phase only weighs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from advisor.auto.config import TuneConfig
from advisor.auto.objective import CV_FOLDS, SMALL_VALIDATION
from advisor.profiling.progress import Progress, staged


@dataclass(frozen=True)
class ClassicalKind:
    """How one modality's classical member is fitted (the `runners` functions it calls).

    Attributes:
        name: The member's name in the ensemble, its folder under `OUT/trials/` and its phase in the report.
        stage: What the progress line calls its fit.
        features: Inputs (texts, images) to what the fits take (texts as they are; images as raw pixels).
        cs: The inverse regularisation strengths it chooses among.
        fit: (train, train labels, val, val labels, class names, cs) -> model, C chosen on validation.
        cross_validate: (features, labels, class names, folds, cs, progress=) -> out-of-fold `c`,
            `probabilities`, `accuracy`.
        fit_at: (features, labels, class names, c) -> model.
        proba: (model, features) -> probabilities.
        max_examples: Train + validation examples above which the member is not fitted (its reading
            and kernel would cost minutes); None: no limit.
    """

    name: str
    stage: str
    features: Callable[[list[Any]], Any]
    cs: Sequence[float]
    fit: Callable[..., Any]
    cross_validate: Callable[..., Any]
    fit_at: Callable[..., Any]
    proba: Callable[[Any, Any], np.ndarray]
    max_examples: int | None = None


def _tfidf(seed: int) -> ClassicalKind:
    """TF-IDF + logistic regression: deterministic, so `seed` is not used."""
    from runners.classical import DEFAULT_CS, cross_validate_tfidf, fit_tfidf_at, fit_tfidf_linear

    return ClassicalKind(
        name="tfidf",
        stage="TF-IDF member",
        features=lambda texts: [str(t) for t in texts],
        cs=DEFAULT_CS,
        fit=fit_tfidf_linear,
        cross_validate=cross_validate_tfidf,
        fit_at=fit_tfidf_at,
        proba=lambda model, texts: model.predict_proba(texts),
    )


def _pixels(seed: int) -> ClassicalKind:
    """Kernel logistic regression on raw pixels; `seed` draws the Nyström landmarks (over 1,000 images)."""
    from runners.pixels import DEFAULT_CS, cross_validate_pixels, fit_pixel_kernel, fit_pixels_at, raw_pixels

    return ClassicalKind(
        name="pixels",
        stage="pixel member",
        features=raw_pixels,
        cs=DEFAULT_CS,
        fit=partial(fit_pixel_kernel, seed=seed),
        cross_validate=partial(cross_validate_pixels, seed=seed),
        fit_at=partial(fit_pixels_at, seed=seed),
        proba=lambda model, pixels: model.proba_of_pixels(pixels),
        # 20,000 images of 32×32×3 float32 are 250 MB, and reading them back costs a pass over the files.
        max_examples=20_000,
    )


# Modality -> its classical member for a search's seed (built on use: the runners' imports are heavy).
CLASSICAL_KINDS: dict[str, Callable[[int], ClassicalKind]] = {"text": _tfidf, "image": _pixels}


class ClassicalMember(BaseModel):
    """The fitted member and the predictions the finishing phase weighs it on."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str = Field(description="Its name in the ensemble (`ClassicalKind.name`).")
    modality: str = Field(description="The search's modality: its `CLASSICAL_KINDS` entry.")
    seed: int = Field(0, description="The search's seed, which the kind's fits draw from (its refit too).")
    features: Any = Field(description="Train then validation inputs as its fits take them (read once, in set-up).")
    model: Any = Field(description="The runners' model (TfidfLinearModel, PixelKernelModel), fitted on train only.")
    val_probs: Any = Field(description="Its probabilities on the validation examples, (n_val, n_classes).")
    oof_labels: Any = Field(
        None, description="Class ids of train then validation, when C was cross-validated (small validation)."
    )
    oof_probs: Any = Field(None, description="Out-of-fold probabilities over those rows at the chosen C.")
    read_seconds: float = Field(0.0, description="Turning the train + validation inputs into its features.")
    refit_seconds: float = Field(
        0.0, description="Its expected refit on train + validation: one fit (the mean of those it made)."
    )

    def refit(self, labels: list[str]) -> Any:
        """The model at its C fitted on `features` (train + validation, `labels` in that order), from
        the features set-up read rather than a second pass over the files; the scores that chose C
        are carried over."""
        kind = CLASSICAL_KINDS[self.modality](self.seed)
        model = kind.fit_at(self.features, labels, self.model.class_names, self.model.c)
        model.val_accuracy, model.val_log_loss = self.model.val_accuracy, self.model.val_log_loss
        return model


def left_out_note(config: TuneConfig, split: Any) -> str | None:
    """Why the modality's classical member was left out of a search whose ensemble could have held
    it, for the report; None when it was fitted, or the modality has none, or the ensemble is off
    or there is no validation split (the report says those already)."""
    make = CLASSICAL_KINDS.get(config.data_modality)
    if make is None or not config.ensemble or not split.val:
        return None
    kind = make(config.seed)
    if config.priority == "mobile":
        return f"The {kind.stage} was left out: `--priority mobile` exports to ONNX, which it has no export for."
    rows = len(split.train) + len(split.val)
    if kind.max_examples is not None and rows > kind.max_examples:
        return (
            f"The {kind.stage} was left out: {rows:,} train + validation examples, over its "
            f"{kind.max_examples:,} (reading them as pixels and fitting its kernel would take minutes)."
        )
    return None


def fit_classical_member(
    config: TuneConfig, data: Any, split: Any, progress: Progress | None = None
) -> ClassicalMember | None:
    """The member for a search with the ensemble on and a validation split; else None (also for a
    modality without one, a split over the kind's `max_examples`, or `--priority mobile`, whose
    export goes to ONNX, which neither classical member has).

    On a validation split under `SMALL_VALIDATION` examples, C is chosen by cross-validation over
    train + validation with the folds the head-only trials use (`cv_folds`, the search's seed), so the
    out-of-fold predictions line up row for row with theirs; otherwise C is chosen on validation.
    Either way the model is fitted on the training examples only: validation stays held out until refit.
    """
    make = CLASSICAL_KINDS.get(config.data_modality)
    if make is None or not config.ensemble or not split.val or left_out_note(config, split) is not None:
        return None
    kind = make(config.seed)
    rows = split.train + split.val
    from runners.training.head import cv_folds

    classes = list(split.class_names)
    names = [data.labels[i] for i in rows]
    n_train = len(split.train)
    labels = np.array([classes.index(label) for label in names], dtype=np.int64)
    # Large validation, or a class too rare to leave out of a fold: C is chosen on validation.
    on_validation = len(split.val) >= SMALL_VALIDATION or np.bincount(labels, minlength=len(classes)).min() < 2
    step = staged(progress, kind.stage)
    if step is not None:
        step(0, 1 if on_validation else CV_FOLDS)
    start = time.perf_counter()
    features = kind.features([data.inputs[i] for i in rows])
    read = time.perf_counter() - start
    train_x, val_x = features[:n_train], features[n_train:]
    out_of_fold: dict[str, Any] = {}
    if on_validation:
        model = kind.fit(train_x, names[:n_train], val_x, names[n_train:], classes, kind.cs)
        if step is not None:
            step(1, 1)
        fits = len(kind.cs)
    else:
        folds = cv_folds(labels, CV_FOLDS, config.seed)
        scored = kind.cross_validate(features, names, classes, folds, kind.cs, progress=step)
        model = kind.fit_at(train_x, names[:n_train], classes, scored.c)
        model.val_accuracy = scored.accuracy
        fits = len(kind.cs) * len(folds) + 1
        out_of_fold = {"oof_labels": labels, "oof_probs": scored.probabilities}
    fit = (time.perf_counter() - start - read) / fits
    return ClassicalMember(
        name=kind.name,
        modality=config.data_modality,
        seed=config.seed,
        features=features,
        model=model,
        val_probs=kind.proba(model, val_x),
        read_seconds=read,
        refit_seconds=fit,
        **out_of_fold,
    )
