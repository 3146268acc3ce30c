"""What profiling a dataset found: the pydantic models `advisor profile --json` prints.

`ProfileReport.profile` is the engine's input (`DatasetProfile`, with the measured similarity);
`ProfileReport.evidence` is everything behind it, numbers included, so a verdict can be checked.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from advisor.profile import DatasetProfile, Modality, Similarity
from advisor.recommendation import FiredRule

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class FileProblem(BaseModel):
    """An example that could not be used, and why."""

    model_config = _FROZEN

    path: str
    reason: str


class DuplicateGroup(BaseModel):
    """Examples with identical content (file bytes for images, text after whitespace normalisation)."""

    model_config = _FROZEN

    ids: tuple[str, ...]
    labels: tuple[str, ...] = Field(description="Distinct labels in the group; more than one is a conflict.")
    splits: tuple[str, ...] = Field(description="Distinct pre-split parts in the group; more than one is leakage.")


class Duplicates(BaseModel):
    """Exact duplicates, and the subset that leaks across pre-split parts or conflicts in label."""

    model_config = _FROZEN

    n_groups: int
    n_extra_copies: int = Field(description="Examples that are a copy of an earlier one.")
    n_leaked_groups: int = Field(description="Groups present in more than one of train/val/test.")
    n_label_conflicts: int
    groups: tuple[DuplicateGroup, ...] = Field(description="Up to 20 groups, leaking and conflicting ones first.")


class ImageStats(BaseModel):
    """Sizes and channels of the readable images."""

    model_config = _FROZEN

    width: tuple[int, int, int] = Field(description="Min, median, max width in pixels.")
    height: tuple[int, int, int] = Field(description="Min, median, max height in pixels.")
    modes: dict[str, int] = Field(description="PIL mode → count (L = grayscale, RGB, RGBA, I;16 …).")
    grayscale_share: float


class TextStats(BaseModel):
    """Lengths and tokenisation of the texts under the backbone's tokenizer."""

    model_config = _FROZEN

    tokenizer: str
    words: tuple[int, int, int] = Field(description="Min, median, max words per text.")
    tokens: tuple[int, int, int, int] = Field(description="Min, median, 95th percentile, max tokens per text.")
    max_length: int = Field(description="The length the runners truncate to.")
    truncation_rate: float = Field(description="Share of texts longer than max_length tokens.")
    model_max_length: int | None = None
    truncation_rate_at_model_max: float | None = None
    fragmentation: float = Field(description="Sub-word pieces per whitespace word.")
    unk_rate: float = Field(description="Share of pieces that are the unknown token.")
    latin_share: float = Field(description="Share of letters in the Latin script.")
    scripts: dict[str, float] = Field(description="Script → share of letters.")
    language_hint: str


class BackboneScore(BaseModel):
    """One backbone's fit to this dataset."""

    model_config = _FROZEN

    backbone: str
    architecture: str
    params_millions: float
    logme: float = Field(description="LogME evidence per example on frozen features; higher transfers better.")
    probe_accuracy: float | None = None
    head_accuracy: float | None = Field(
        None, description="k-fold accuracy of a converged linear head on the frozen features (best of a C grid)."
    )
    seconds: float


class SimilarityEvidence(BaseModel):
    """The measured numbers, the level they map to and the rule that mapped them."""

    model_config = _FROZEN

    level: Similarity
    rule: FiredRule
    backbone: str
    n_measured: int
    drift: float | None = None
    low_drift: float | None = None
    top_drift: float | None = None
    block_drift: tuple[float | None, ...] | None = None
    shift: Literal["low-level", "high-level", "both", "none"] | None = Field(
        default=None, description="Where BatchNorm drift concentrates, bottom vs top blocks."
    )
    probe_accuracy: float | None = None
    raw_probe_accuracy: float | None = None
    probe_gain: float | None = None
    raw_baseline: str | None = None
    fragmentation: float | None = None
    unk_rate: float | None = None
    latin_share: float | None = None
    seconds: float


class Measured(BaseModel):
    """What measuring on a sample found: the similarity evidence and the backbones ranked.

    `measure_sample` returns this alone (a search measures without profiling); `Evidence` is a
    `Measured` with everything else the profile found, so the two share these fields and one reader.
    """

    model_config = _FROZEN

    similarity: SimilarityEvidence | None = None
    backbones: tuple[BackboneScore, ...] = ()
    chosen_backbone: str | None = Field(
        default=None, description="The backbone the similarity evidence is for, as resolved."
    )
    backbone_rule: FiredRule | None = Field(
        default=None, description="Why the chosen backbone, when several were scored."
    )


class Evidence(Measured):
    """Everything the profile rests on: what was measured, and what the scan found."""

    model_config = _FROZEN

    source: str
    modality: Modality
    per_class: dict[str, int]
    presplit: dict[str, int] | None = Field(default=None, description="Examples per pre-split part, if pre-split.")
    imbalance_ratio: float
    corrupted: tuple[FileProblem, ...]
    layout_problems: tuple[FileProblem, ...] = Field(
        default=(),
        description="Class folders without examples: left out of the profile; training refuses the dataset.",
    )
    duplicates: Duplicates
    near_duplicates: Duplicates | None = Field(
        default=None, description="Images that look the same (difference hash) without being byte-identical."
    )
    images: ImageStats | None = None
    text: TextStats | None = None
    notes: tuple[str, ...] = ()
    findings: tuple[FiredRule, ...] = ()
    seconds: float


class ProfileReport(BaseModel):
    """`DatasetProfile` (what the engine reads) plus the evidence behind it."""

    model_config = _FROZEN

    profile: DatasetProfile
    evidence: Evidence
