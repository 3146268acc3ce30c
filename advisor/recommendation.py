"""`Recommendation`: the engine's explained answer, handed to the CLI, the TUI and the search."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from advisor.profile import DatasetProfile

Strategy = Literal["feature_extraction", "partial_fine_tune", "full_fine_tune", "from_scratch"]
STRATEGIES: tuple[Strategy, ...] = ("feature_extraction", "partial_fine_tune", "full_fine_tune", "from_scratch")
# Image augmentations a rule can ask for; each names a switch of the runners' `AugmentConfig`.
AugmentOp = Literal["rotation", "flip", "crop", "color_jitter"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class FiredRule(BaseModel):
    """One rule that shaped the answer, with the seed section whose advice it encodes."""

    model_config = _FROZEN

    rule: str = Field(description="Rule id, as in the rules file.")
    reason: str
    section: str = Field(description="The tutorial section the rule encodes.")


class BackboneOption(BaseModel):
    """A pretrained model from the zoo tables."""

    model_config = _FROZEN

    name: str = Field(description="The name the tutorial uses, e.g. 'ResNet-50'.")
    model_id: str = Field(description="The timm or Hugging Face identifier.")
    params_millions: float
    best_for: str


class BackboneChoice(BackboneOption):
    """The chosen backbone plus the alternatives the selection guide names."""

    reason: str
    alternatives: tuple[BackboneOption, ...] = ()


class Stage(BaseModel):
    """One stage of the progressive schedule: which share of layers trains, for how long, how fast."""

    model_config = _FROZEN

    name: str
    trainable_fraction: float = Field(ge=0.0, le=1.0, description="0.0 head only … 1.0 all layers.")
    epochs: int = Field(gt=0)
    lr_head: float = Field(gt=0)
    lr_backbone: float | None = Field(default=None, gt=0, description="None while the backbone is frozen.")
    lr_backbone_range: tuple[float, float] | None = Field(
        default=None, description="The range the tutorial gives; the search explores it."
    )
    layerwise_span: float | None = Field(
        default=None, ge=1, description="Layer-wise LRs: top block's LR ÷ bottom block's LR (None: uniform)."
    )
    warmup_ratio: float = Field(default=0.0, ge=0, lt=1)
    weight_decay: float = Field(default=0.0, ge=0)
    early_stopping_patience: int | None = Field(default=None, gt=0)
    reduce_lr_on_plateau: bool = False

    def layer_decay(self, n_blocks: int) -> float | None:
        """Per-block LR multiplier going down from the top that spans `layerwise_span` over `n_blocks`."""
        if self.layerwise_span is None or n_blocks < 2:
            return None
        return float(self.layerwise_span ** (-1.0 / (n_blocks - 1)))


class Range(BaseModel):
    """A closed numeric range, e.g. expected accuracy 0.70–0.85."""

    model_config = _FROZEN

    low: float
    high: float


class Recommendation(BaseModel):
    """What to do with this dataset, and why."""

    model_config = _FROZEN

    profile: DatasetProfile
    strategy: Strategy
    trainable_fraction: float = Field(ge=0.0, le=1.0)
    rung: int = Field(ge=1, le=5, description="Step on the tutorial's transfer-learning ladder.")
    rung_name: str
    backbone: BackboneChoice
    pretrained: bool = Field(description="Start from pretrained weights (False only when training from scratch).")
    stages: tuple[Stage, ...]
    expected_accuracy: Range | None = None
    time_estimate: str | None = None
    rationale: tuple[FiredRule, ...]
    warnings: tuple[FiredRule, ...] = ()
    augmentation: tuple[AugmentOp, ...] = Field(
        default=(),
        description="Image augmentations the fired warnings ask for (none: train on the images as they are).",
    )
