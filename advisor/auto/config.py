"""`TuneConfig`: everything `advisor auto` / `advisor.tune` is asked to do, validated up front."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from advisor.profile import Priority, Similarity

TEXT_SUFFIXES = (".csv", ".jsonl")
PrunerName = Literal["hyperband", "successive_halving", "median", "none"]


class TuneConfig(BaseModel):
    """Settings of one search. Stored in the study's user attributes so a worker can rebuild it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: Path
    out: Path
    modality: Literal["image", "text"] | None = Field(None, description="Default: detected from the data.")
    budget_minutes: float = Field(30.0, gt=0, description="Wall clock for the whole search.")
    trials: int | None = Field(None, ge=1, description="Stop after this many finished trials in the study.")
    backbone: str | None = Field(None, description="timm / Hugging Face name or offline-zoo name.")
    weights: str | None = Field(None, description="Local weights file or folder.")
    similarity: Similarity | None = Field(None, description="Default: measured from the data (frozen pass).")
    measure_similarity: bool = Field(True, description="Measure similarity and backbone fit when not given.")
    priority: Priority = "balanced"
    storage: str | None = Field(
        None, repr=False, description="Optuna storage URL; default sqlite:///OUT/study.db. Never stored or shown."
    )
    study_name: str = "advisor"
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
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
        True, description="Run the rule engine's plan as the first trial, then a few head-only strength probes."
    )
    linear_probe_first: bool = Field(
        True, description="Fine-tuning starts from the converged head (LP-FT); off: from a random head."
    )
    refit: bool = Field(True, description="Retrain the selected model(s) on train + validation before export.")
    ensemble: bool = Field(True, description="Greedy ensemble of the best trials (and TF-IDF for text).")
    workers: int = Field(1, ge=1, description="Local worker processes sharing the study.")
    heartbeat_seconds: int = Field(10, ge=1, description="How often a running trial says it is alive.")
    grace_seconds: int = Field(30, ge=2, description="Silence after which a running trial is failed and retried.")

    @field_validator("data")
    @classmethod
    def _data_exists(cls, value: Path) -> Path:
        if not value.exists():
            raise ValueError(f"{value} does not exist")
        if value.is_file() and value.suffix.lower() not in TEXT_SUFFIXES:
            raise ValueError(
                f"{value}: a data file must be {' or '.join(TEXT_SUFFIXES)} (images go in a folder per class)"
            )
        return value

    @property
    def data_modality(self) -> Literal["image", "text"]:
        """The given modality, else: a CSV/JSONL file or a folder of .txt files is text; other folders images."""
        if self.modality is not None:
            return self.modality
        if self.data.is_file() or next(self.data.rglob("*.txt"), None) is not None:
            return "text"
        return "image"

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(self.out / 'study.db').resolve()}"
