"""Pydantic models at the boundary of `runners`: what to train (specs) and what came out (results)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from runners.device import Device

# class_weights="auto" weights the classes when the largest is more than this many times the smallest.
CLASS_WEIGHT_RATIO = 1.5
# `TrialSpec.dihedral_views`: the image as it is; it and its half turn; its 4 right-angle rotations; those
# and their mirror images (`runners.views`).
DihedralViews = Literal[1, 2, 4, 8]
# `TrialSpec.monitor`; each one's sort key is in `MONITORS`.
Monitor = Literal["val_loss", "val_accuracy"]
# `StageSpec.head_kernel`: logistic regression on the pooled features, or on their RBF kernel values.
HeadKernel = Literal["linear", "rbf"]
# `TrialSpec.head_features`: what the head reads: the pooled top features, or those and the channel
# statistics of the upper half of the stages (`runners.backbones.timm_blocks.StageStatsNet`).
HeadFeatures = Literal["pooled", "stage_statistics"]
# The guide's head, what every stage fits unless a search or a user asks otherwise: a linear classifier
# on the pooled top features.
LINEAR_HEAD: Final[HeadKernel] = "linear"
POOLED_FEATURES: Final[HeadFeatures] = "pooled"
STAGE_STATISTICS: Final[HeadFeatures] = "stage_statistics"

_USER = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
_RESULT = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class InMemoryData(BaseModel):
    """Examples held in memory: texts, or images (PIL images, arrays or file paths).

    Attributes:
        inputs: One entry per example.
        labels: Class name of each example (same length as `inputs`).
        split: Optional pre-assigned split ("train"/"val"/"test") per example.
    """

    model_config = _USER
    inputs: list[Any]
    labels: list[str]
    split: list[Literal["train", "val", "test"]] | None = None

    @model_validator(mode="after")
    def _same_length(self) -> InMemoryData:
        if len(self.inputs) != len(self.labels):
            raise ValueError(f"{len(self.inputs)} inputs but {len(self.labels)} labels")
        if self.split is not None and len(self.split) != len(self.inputs):
            raise ValueError(f"{len(self.inputs)} inputs but {len(self.split)} split entries")
        return self


class AugmentConfig(BaseModel):
    """Image augmentation; `strength` in [0, 1] scales crop, rotation and colour jitter."""

    model_config = _USER
    enabled: bool = False
    strength: float = Field(0.5, ge=0.0, le=1.0)
    flip: bool = True
    crop: bool = True
    rotation: bool = False
    color_jitter: bool = True


class CacheConfig(BaseModel):
    """Frozen-prefix activation cache settings.

    Attributes:
        enabled: Train the unfrozen top from cached boundary activations.
        n_views: Augmented views cached per training example (when augmentation is on).
        max_memory_mb: Size cap of the in-process cache (least recently used entries go first).
        disk_dir: Optional folder for a persistent cache; `max_disk_mb` caps its size.
    """

    model_config = _USER
    enabled: bool = True
    n_views: int = Field(2, ge=1)
    max_memory_mb: int = Field(2048, ge=0)
    disk_dir: Path | None = None
    max_disk_mb: int = Field(4096, ge=0)


class StageSpec(BaseModel):
    """One stage of a progressive schedule: train the top `trainable_blocks` blocks plus the head.

    `layer_decay` multiplies the backbone LR once per block going down from the top block.
    """

    model_config = _USER
    trainable_blocks: int = Field(0, ge=0)
    epochs: int = Field(1, ge=1)
    lr_head: float = Field(1e-3, gt=0)
    lr_backbone: float = Field(1e-4, ge=0)
    layer_decay: float | None = Field(None, gt=0, le=1)
    head_c: float | None = Field(
        None,
        gt=0,
        description="Head-only stage: fit the head to convergence (L-BFGS logistic regression with "
        "scikit-learn's C = head_c on standardised features) instead of `epochs` of AdamW.",
    )
    head_kernel: HeadKernel = Field(
        LINEAR_HEAD,
        description="Converged-head stage: 'rbf' fits the logistic regression on the RBF kernel values of "
        "the standardised features against up to `runners.training.head.RBF_LANDMARKS` training rows (a "
        "Nyström map), a head that can bend where a linear one cannot. Image trials, last stage only.",
    )
    # Per-stage schedule (a recommendation gives each stage its own); None: the trial's setting.
    scheduler: Literal["cosine", "plateau", "none"] | None = None
    warmup_fraction: float | None = Field(None, ge=0, lt=1)
    early_stopping_patience: int | None = Field(None, ge=1)
    weight_decay: float | None = Field(None, ge=0)

    @property
    def converged_head(self) -> bool:
        """True when this stage fits the head to convergence rather than training it for epochs."""
        return self.head_c is not None and self.trainable_blocks == 0

    @model_validator(mode="after")
    def _kernel(self) -> StageSpec:
        if self.head_kernel != LINEAR_HEAD and not self.converged_head:
            raise ValueError(
                f"head_kernel={self.head_kernel!r} needs a converged head fit (head_c set, trainable_blocks 0); "
                f"got head_c={self.head_c}, trainable_blocks={self.trainable_blocks}"
            )
        return self


class DataSource(BaseModel):
    """Where a dataset is and how to read it: all `Runner.load_data` needs (no backbone, no training).

    `data` is a folder, a CSV/JSONL file or `InMemoryData`; the columns and encoding apply to tables.
    """

    model_config = _USER
    data: Path | InMemoryData
    text_column: str = "text"
    label_column: str = "label"
    encoding: str = "utf-8"


class TrialSpec(BaseModel):
    """Everything needed to train and evaluate one model.

    `weights`: None = hub or packaged weights, a file/folder path = local weights,
    "none" = random initialisation (tests). `data` is a folder, a CSV/JSONL file or `InMemoryData`.
    `backbone_kwargs`: extra `timm.create_model` arguments (images) or HF config overrides (text).
    """

    model_config = _USER
    modality: Literal["image", "text"]
    backbone: str
    weights: str | None = None
    backbone_kwargs: dict[str, Any] = Field(default_factory=dict)
    data: Path | InMemoryData
    text_column: str = "text"
    label_column: str = "label"
    encoding: str = "utf-8"
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    stages: list[StageSpec] = Field(default_factory=lambda: [StageSpec()], min_length=1)
    batch_size: int = Field(32, ge=1)
    weight_decay: float = Field(0.01, ge=0)
    scheduler: Literal["cosine", "plateau", "none"] = "cosine"
    warmup_fraction: float = Field(0.1, ge=0, lt=1)
    class_weights: Literal["auto", "on", "off"] = "auto"
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    early_stopping_patience: int | None = Field(3, ge=1)
    monitor: Monitor = Field(
        "val_loss",
        description="What picks the epoch a trial keeps and what early stopping waits on (`MONITORS`): the "
        "lowest validation loss (the guide's `EarlyStopping(monitor='val_loss', restore_best_weights=True)`), "
        "or the best validation accuracy, ties to the lower loss (what a search selects on). Patience "
        "counts epochs since the best of the current stage, as a new Keras `fit` does.",
    )
    seed: int = 0
    device: Device = "auto"
    image_size: int | None = Field(None, ge=8)
    max_length: int = Field(128, ge=8)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    output_dir: Path | None = None
    evaluate_test: bool = Field(
        True, description="Score the test split after training; a search turns this off and scores only its winner."
    )
    head_cv_folds: int | None = Field(
        None,
        ge=2,
        description="With a converged-head first stage: also score it by k-fold cross-validation over "
        "train + validation features (small validation splits make a noisy selection score).",
    )
    min_stage_gain: float | None = Field(
        None,
        description="A third or later stage starts only if the stage before it added at least this much "
        "validation accuracy over the best before that (the guide: stop when a stage adds under 1%); "
        "None: every stage runs.",
    )
    freeze_batchnorm: bool = Field(
        True,
        description="BatchNorm layers of the fine-tuned blocks keep their pretrained statistics (eval mode). "
        "On small data, batch statistics of augmented batches pull the features away from the ones the "
        "converged head was fitted on: ELPV, 240 training images, top 2 of 8 blocks, measured a first-epoch "
        "training loss of 23.6 against 1.8 frozen, and validation accuracy 0.48 against 0.77 after 3 epochs. "
        "Off for random weights (no statistics to keep).",
    )
    dihedral_views: DihedralViews = Field(
        1,
        description="Images with no 'up': every image is also fed turned by a half turn (2 views), by right "
        "angles (4), and mirrored (8) (`runners.views`); the converged head is fitted on every view of the training images, "
        "and validation, test and every prediction of the exported model average the probabilities over "
        "the views. Converged-head stages only (the frozen backbone's features of each view are cached).",
    )
    head_features: HeadFeatures = Field(
        POOLED_FEATURES,
        description="'stage_statistics': the head reads the pooled features and the channel means and "
        "standard deviations of the upper half of the backbone's stages (EfficientNet families; a "
        "`StageStatsNet` is exported). Converged-head stages only: the statistics come from the frozen pass.",
    )
    train_on_val: bool = Field(
        False,
        description="Refit: train on train + validation (the split is unchanged on disk; validation "
        "metrics are then training metrics). Give fixed epochs and no early stopping.",
    )

    @property
    def source(self) -> DataSource:
        """The spec's data and how to read it."""
        return DataSource(
            data=self.data, text_column=self.text_column, label_column=self.label_column, encoding=self.encoding
        )

    @model_validator(mode="after")
    def _fractions(self) -> TrialSpec:
        tr, va, te = self.split_fractions
        if min(self.split_fractions) < 0 or abs(tr + va + te - 1.0) > 1e-6 or tr <= 0 or va <= 0:
            raise ValueError(f"split_fractions must be >= 0, sum to 1, with train and val > 0: {self.split_fractions}")
        return self

    @model_validator(mode="after")
    def _views(self) -> TrialSpec:
        if self.dihedral_views > 1 and self.modality != "image":
            raise ValueError(f"dihedral_views turns images; modality={self.modality!r} has none")
        tuned = [i for i, s in enumerate(self.stages) if not s.converged_head]
        if self.dihedral_views > 1 and tuned:
            raise ValueError(
                f"dihedral_views needs every stage to be a converged head fit (head_c set, trainable_blocks 0); "
                f"stage {tuned[0]} trains for epochs"
            )
        return self

    @model_validator(mode="after")
    def _stage_statistics(self) -> TrialSpec:
        if self.head_features == POOLED_FEATURES:
            return self
        if self.modality != "image":
            raise ValueError(
                f"head_features={self.head_features!r} reads image feature maps; modality={self.modality!r}"
            )
        tuned = [i for i, s in enumerate(self.stages) if not s.converged_head]
        if tuned:
            raise ValueError(
                f"head_features={self.head_features!r} needs every stage to be a converged head fit (head_c set, "
                f"trainable_blocks 0); stage {tuned[0]} trains for epochs"
            )
        return self

    @model_validator(mode="after")
    def _kernel_head_last(self) -> TrialSpec:
        kernel = [i for i, s in enumerate(self.stages) if s.head_kernel != LINEAR_HEAD]
        if kernel and self.modality != "image":
            raise ValueError(
                f"stage {kernel[0]}: head_kernel={self.stages[kernel[0]].head_kernel!r} is for image trials "
                f"(a text model exports its linear classifier); modality={self.modality!r}"
            )
        if kernel and kernel[0] != len(self.stages) - 1:
            raise ValueError(f"stage {kernel[0]}: a kernel head must be the last stage; no stage trains through it")
        return self


class EpochMetrics(BaseModel):
    """Validation metrics after one epoch; passed to the per-epoch callback."""

    model_config = _RESULT
    stage: int
    epoch: int
    train_loss: float
    train_accuracy: float | None = None
    val_loss: float
    val_accuracy: float
    val_macro_f1: float
    seconds: float
    lr: float


# Each `Monitor`'s sort key of an epoch, lower is better. Keeping by accuracy keeps
# what fine-tuning gains while it grows over-confident: on ELPV binary (top 2 of 8 blocks, 8 epochs,
# three splits) validation loss rose from epoch 1 while accuracy climbed, and the kept epoch scored
# 0.863 on test by accuracy against 0.850 by loss (docs/benchmarks.md).
MONITORS: dict[str, Callable[[EpochMetrics], tuple[float, ...]]] = {
    "val_loss": lambda m: (m.val_loss,),
    "val_accuracy": lambda m: (-m.val_accuracy, m.val_loss),
}


def kept_epoch(curve: Sequence[EpochMetrics], monitor: Monitor) -> EpochMetrics | None:
    """The epoch whose weights a trial keeps under `monitor` (the first of equals), None if no finite one."""
    finite = [m for m in curve if math.isfinite(m.val_loss) and math.isfinite(m.val_accuracy)]
    return min(finite, key=MONITORS[monitor], default=None)


class Confusion(BaseModel):
    """Predictions against the truth: `counts[i][j]` examples of `classes[i]` predicted as `classes[j]`."""

    model_config = _RESULT
    classes: list[str]
    counts: list[list[int]]
    members: dict[str, Confusion] = Field(
        default_factory=dict,
        description="An ensemble's: each member's own confusion matrix on the same inputs, by member name.",
    )

    @classmethod
    def of(cls, truth: list[str], predicted: list[str]) -> Confusion:
        """Tally predicted labels against true ones; a class seen on either side gets a row and a column."""
        classes = sorted(set(truth) | set(predicted))
        index = {name: i for i, name in enumerate(classes)}
        counts = [[0] * len(classes) for _ in classes]
        for true, guess in zip(truth, predicted, strict=True):
            counts[index[true]][index[guess]] += 1
        return cls(classes=classes, counts=counts)

    @property
    def total(self) -> int:
        return sum(map(sum, self.counts))

    @property
    def accuracy(self) -> float:
        return sum(self.counts[i][i] for i in range(len(self.classes))) / max(self.total, 1)

    @property
    def support(self) -> dict[str, int]:
        """Each class's number of examples (its row's total)."""
        return {name: sum(row) for name, row in zip(self.classes, self.counts, strict=True)}

    @property
    def per_class(self) -> dict[str, float | None]:
        """Each class's accuracy (recall): its examples predicted right; None for a class with no example."""
        support = self.support
        return {
            name: (self.counts[i][i] / support[name] if support[name] else None) for i, name in enumerate(self.classes)
        }


class ResolvedBackbone(BaseModel):
    """Which backbone and weights will actually be used, and why if not the requested ones."""

    model_config = _RESULT
    requested: str
    name: str
    modality: Literal["image", "text"]
    architecture: str
    weights_source: Literal["hub", "packaged", "local", "random"]
    weights_path: str | None = None
    fallback_reason: str | None = None


class TrialResult(BaseModel):
    """Outcome of `Runner.run`.

    `stop_exception` holds the `runners.errors.StopTrial` a callback raised (status "stopped") so the
    caller can tell its own stop signals apart (e.g. pruning); it is excluded from serialisation. Any
    other exception fails the trial: status "failed", `error` = "Type: message" then the traceback.
    """

    model_config = _RESULT
    status: Literal["complete", "diverged", "stopped", "failed"]
    curve: list[EpochMetrics] = Field(default_factory=list)
    best_val_loss: float | None = None
    best_val_accuracy: float | None = None
    best_val_macro_f1: float | None = None
    test_accuracy: float | None = None
    test_macro_f1: float | None = None
    n_skipped_files: int = 0
    n_train: int = 0
    n_val: int = 0
    n_test: int = 0
    class_names: list[str] = Field(default_factory=list)
    backbone: ResolvedBackbone | None = None
    n_blocks: int | None = None
    seconds: float = 0.0
    cache_hits: int = 0
    stage_seconds: list[float] = Field(default_factory=list, description="Wall time per stage, cache fill included.")
    fill_seconds: float = Field(0.0, description="Seconds this trial spent computing frozen features into the cache.")
    fill_seconds_per_example: float | None = Field(
        None,
        description="Seconds per example of this trial's last cache fill: the inputs and the frozen blocks "
        "below `fill_boundary` (None: it filled nothing).",
    )
    fill_boundary: int | None = Field(None, ge=1, description="The block boundary that fill stopped at.")
    cv_accuracy: float | None = None
    cv_stderr: float | None = None
    cv_log_loss: float | None = None
    skipped_stages: int = Field(
        0, description="Stages not run because the one before them added under `min_stage_gain`."
    )
    cv_labels: list[int] = Field(default_factory=list, description="Train then validation class ids (CV's examples).")
    cv_probabilities: list[list[float]] | None = Field(
        None, description="Out-of-fold head probabilities, one row per `cv_labels` entry (head-only CV trials)."
    )
    val_labels: list[int] = Field(default_factory=list)
    val_probabilities: list[list[float]] | None = Field(None, description="At the best epoch, one row per val example.")
    model_dir: Path | None = None
    split_path: Path | None = None
    input_size: int | None = Field(None, description="Images: the side in pixels the model was fed. None for text.")
    pretrained_input_size: int | None = Field(
        None, description="Images: the side the backbone's weights were pretrained at (timm `pretrained_cfg`)."
    )
    native_image_size: int | None = Field(
        None, description="Images: the data's own size, the median shorter side of a sample of the images."
    )
    error: str | None = None
    stop_exception: BaseException | None = Field(None, exclude=True, repr=False)
