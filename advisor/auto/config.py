"""`TuneConfig`: everything `advisor auto` / `advisor.tune` is asked to do, validated up front."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from advisor.profile import Modality, Priority, Similarity
from runners.data.formats import check_data_file, guess_modality
from runners.device import Device
from runners.specs import LINEAR_HEAD, DihedralViews, HeadKernel

PrunerName = Literal["hyperband", "successive_halving", "median", "none"]
# A worker that stops beating for GRACE seconds (killed, machine lost) has its trial marked
# failed by the next worker that starts a trial; that configuration is then retried once.
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 30
# The study of a search not given a name; its report is titled after the data instead.
DEFAULT_STUDY_NAME = "advisor"
# `TuneConfig.dihedral_views="auto"`: the view counts an image search's head-only trials choose among.
# Not 8: over 8 ELPV splits the mirror images added 0.6 points to the 4 rotations on binary and none on
# 4 grades, for 4 more frozen passes and twice the prediction cost (bench/bench_elpv_views.py). The
# half turn (2) costs one pass where the rotations cost three: on a 2-core CPU, ELPV's 4 rotations
# never fit beside the rule plan in 10 minutes, and over 8 splits an RBF head on the image and its
# half turn scored 0.872 on binary against 0.865 on the image alone (bench/bench_elpv_view_sets.py).
AUTO_DIHEDRAL_VIEWS: tuple[DihedralViews, ...] = (1, 2, 4)
# The heads an image search's head-only trials choose among. On frozen Lite0 features of ELPV's 4
# rotations, over 8 splits, an RBF head beat the linear one by 0.7 ± 0.2 points (binary) and
# 1.5 ± 0.5 (4 grades) (bench/bench_elpv_heads.py). Text keeps its linear head: a text model
# exports the transformers classifier, and no text task was measured.
IMAGE_HEAD_KERNELS: tuple[HeadKernel, ...] = (LINEAR_HEAD, "rbf")


class TuneConfig(BaseModel):
    """Settings of one search. Stored in the study's user attributes so a worker can rebuild it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: Path
    out: Path
    modality: Modality | None = Field(None, description="Default: detected from the data.")
    budget_minutes: float = Field(30.0, gt=0, description="Wall clock for the whole search.")
    trials: int | None = Field(None, ge=1, description="Stop after this many finished trials in the study.")
    backbone: str | None = Field(None, description="timm / Hugging Face name or packaged-weights name.")
    weights: str | None = Field(None, description="Local weights file or folder.")
    similarity: Similarity | None = Field(None, description="Default: measured from the data (frozen pass).")
    measure_similarity: bool = Field(True, description="Measure similarity and backbone fit when not given.")
    priority: Priority = "balanced"
    storage: str | None = Field(
        None, repr=False, description="Optuna storage URL; default sqlite:///OUT/study.db. Never stored or shown."
    )
    study_name: str = DEFAULT_STUDY_NAME
    seed: int = 0
    device: Device = "auto"
    pruner: PrunerName = "hyperband"
    max_epochs_per_stage: int = Field(8, ge=1, description="Upper end of the epochs the search may choose per stage.")
    batch_size: int = Field(32, ge=1)
    text_column: str = "text"
    label_column: str = "label"
    image_size: int | None = Field(None, ge=8)
    max_length: int = Field(128, ge=8)
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    num_threads: int | None = Field(None, ge=1)
    cache: bool = Field(True, description="Train frozen-prefix trials from cached activations.")
    enqueue_rule_plan: bool = Field(
        True,
        description="Run the rule engine's plan as the first trial, then a sweep of head-only regularisation strengths.",
    )
    linear_probe_first: bool = Field(
        True, description="Fine-tuning starts from the converged head (LP-FT); off: from a random head."
    )
    dihedral_views: DihedralViews | Literal["auto"] = Field(
        "auto",
        description="Images with no 'up' (cells, tissue, aerial views): head-only trials fit and score every "
        "image and its half turn (2), the image under its 4 right-angle rotations (4), or those and their "
        "mirror images (8) (`runners.views`), and so does the exported model; that many frozen passes where "
        "a clean head needs one, at search and at prediction time. 'auto' (images): the search tries "
        "head-only trials on the image as it is, then on 2 and on 4 views, and keeps what validates better; "
        "1: never.",
    )
    second_backbone: str = Field(
        "auto",
        min_length=1,
        description="A second backbone whose frozen features head-only trials may also read, so that the "
        "ensemble can weigh heads that err apart: 'auto' (pretrained weights the runners resolve, not "
        "`weights`) picks the largest other packaged backbone of the modality (ELPV binary, 8 splits: Lite0's "
        "heads beside Lite2's, +0.6 points); 'none': never; or a backbone name.",
    )
    refit: bool = Field(True, description="Retrain the selected model(s) on train + validation before export.")
    ensemble: bool = Field(
        True,
        description="Greedy ensemble of the best trials and a classical member (TF-IDF for text, pixels for images).",
    )
    workers: int = Field(1, ge=1, description="Local worker processes sharing the study.")
    heartbeat_seconds: int = Field(HEARTBEAT_SECONDS, ge=1, description="How often a running trial says it is alive.")
    grace_seconds: int = Field(
        GRACE_SECONDS, ge=2, description="Silence after which a running trial is failed and retried."
    )

    @field_validator("data")
    @classmethod
    def _data_exists(cls, value: Path) -> Path:
        if not value.exists():
            raise ValueError(f"{value} does not exist")
        check_data_file(value)  # a DataError is a ValueError: pydantic reports it as this field's error
        return value

    @model_validator(mode="after")
    def _views_need_images(self) -> TuneConfig:
        if self.dihedral_views != "auto" and self.dihedral_views > 1 and self.data_modality != "image":
            raise ValueError(f"dihedral_views turns images; {self.data} holds {self.data_modality}")
        return self

    @property
    def view_choices(self) -> tuple[DihedralViews, ...]:
        """The view counts head-only trials may use: the one asked for; with 'auto', 1 and 4 for images."""
        if self.dihedral_views != "auto":
            return (self.dihedral_views,)
        return AUTO_DIHEDRAL_VIEWS if self.data_modality == "image" else (1,)

    @property
    def head_kernel_choices(self) -> tuple[HeadKernel, ...]:
        """The heads head-only trials may fit: linear and RBF for images, linear for text."""
        return IMAGE_HEAD_KERNELS if self.data_modality == "image" else (LINEAR_HEAD,)

    @property
    def data_modality(self) -> Modality:
        """The given modality, else as `advisor profile` guesses it (`runners.data.formats.guess_modality`)."""
        return self.modality if self.modality is not None else guess_modality(self.data)

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(self.out / 'study.db').resolve()}"
