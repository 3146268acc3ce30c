"""What a trial will cost, from what this search has measured, so no trial starts that cannot finish.

The frozen-prefix cache makes shallow trials cheap and full depth ~10× dearer, so one number per
trial is not enough: the model keeps seconds per fine-tuning epoch for each depth it has seen, the
fixed cost of a trial (data, model build, head fit), and the seconds one frozen forward pass takes
per example (from the passes that filled the cache). Blocks do not cost alike (a CNN's bottom
blocks run at high resolution): the set-up's frozen pass times each block (`block_shares`), and
an unseen depth is priced from the nearest seen one in proportion to the share of the pass its
trainable blocks take, or, before any, from the forward pass: one epoch of the top k blocks costs
their share of a forward pass, three times over for the backward, per training row, plus one pass
of the inputs and the blocks below to fill the cache at that boundary. The same pass gives the
inputs' share (reading, decoding, transforms, timed on the same batch), which a fill pays and an
epoch on cached activations does not. Without measured shares every block counts alike and the
inputs cost nothing apart.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from advisor.auto.space import TrialPlan

# Training the top k blocks for one row costs this many times their share of a forward pass
# (forward + backward). EfficientNet-Lite0's top 2 of 8 blocks take 8.8% of its pass at 224 px;
# on ELPV (3,150 views + 393 validation, 2 CPU cores, ~20 ms a pass) an epoch took 14-17 s, about 2.8 of
# these shares per training row. The running guard corrects from the first measured epoch.
_BACKWARD_FACTOR = 3.0
# The most of a pass put down to the inputs: a fill always runs some blocks.
MAX_INPUT_SHARE = 0.9
# A fill over less than this share of a whole pass does not price the pass: scaling it up scales
# its fixed costs too. On BBC 5/class (MiniLM, 50 texts) the fill of the inputs and the embeddings,
# 0.44% of the pass, priced a whole pass at 595 ms a text where scoring took 20 ms, and the reserve
# for the test split ended the search at 99 s of its 180.
MIN_SCALED_SHARE = 0.25


class PassPrice(BaseModel):
    """What the set-up's frozen pass measured: the search's prices before any trial has run."""

    model_config = ConfigDict(frozen=True)

    seconds_per_example: float = Field(
        gt=0, description="The whole pass per example, model build and loading included (an upper bound)."
    )
    block_shares: tuple[float, ...] | None = Field(
        None, description="Each block's share of the blocks' time, bottom to top, from one timed batch."
    )
    input_share: float = Field(
        0.0,
        ge=0,
        le=MAX_INPUT_SHARE,
        description="Share of the timed batch spent outside the blocks: reading, decoding, preparing inputs.",
    )
    backbone_ratios: dict[str, float] = Field(
        default_factory=dict,
        description="Each other backbone a head may read (`SearchSpace.head_backbones`): its frozen pass per "
        "example over the search's own, both timed on the same batch (`Runner.pass_seconds`).",
    )

    @classmethod
    def from_pass(
        cls, seconds: float, n_examples: int, block_seconds: list[float] | None, input_seconds: float | None = None
    ) -> PassPrice | None:
        """The price of a pass of `seconds` over `n_examples`, with the seconds per example its blocks
        and its inputs took on a timed batch; None for an empty pass."""
        if n_examples <= 0 or seconds <= 0:
            return None
        blocks = sum(block_seconds or [])
        if not block_seconds or blocks <= 0:
            return cls(seconds_per_example=seconds / n_examples)
        inputs = max(input_seconds or 0.0, 0.0)
        return cls(
            seconds_per_example=seconds / n_examples,
            block_shares=tuple(s / blocks for s in block_seconds),
            input_share=min(inputs / (inputs + blocks), MAX_INPUT_SHARE),
        )


@dataclass
class CostModel:
    """Seconds per trial, learned as the search runs.

    Args:
        n_blocks: Blocks of the backbone.
        n_train_rows: Training rows per epoch (examples × cached views).
        n_val: Validation examples (evaluated after every epoch).
    """

    n_blocks: int
    n_train_rows: int
    n_val: int
    # Seconds per example of a whole frozen forward pass, as each cache-filling trial measured it.
    forwards: list[float] = field(default_factory=list)
    # Seconds per example of the setup's measuring pass, model build and loading included: an upper
    # bound that prices the first trial's epochs until a trial measures the forward pass itself.
    forward_prior: float | None = None
    # Each block's share of the blocks' time, bottom to top, and the share of a pass spent on the
    # inputs (reading, decoding, transforms), as the set-up's pass measured them.
    block_shares: tuple[float, ...] | None = None
    input_share: float = 0.0
    overheads: list[float] = field(default_factory=list)
    epoch_seconds: dict[int, list[float]] = field(default_factory=dict)
    filled: set[int] = field(default_factory=set)
    # Examples a head-only trial passes through the frozen backbone once per dihedral view the cache
    # lacks (train + validation; `TrialPlan.dihedral_views`), and the views the cache holds.
    view_rows: int = 0
    views_cached: int = 1
    # Other backbones a head may read (`TrialPlan.head_backbone`): each one's pass against this one's, as
    # set-up timed it (`PassPrice.backbone_ratios`), then as its first fill measured it; the views cached.
    ratios: dict[str, float] = field(default_factory=dict)
    other_views_cached: dict[str, int] = field(default_factory=dict)

    @classmethod
    def priced(
        cls, n_blocks: int, n_train_rows: int, n_val: int, price: PassPrice | None, view_rows: int = 0
    ) -> CostModel:
        """A model whose first prices are the set-up pass's (`price`), or unpriced without one."""
        if price is None:
            return cls(n_blocks, n_train_rows, n_val, view_rows=view_rows)
        return cls(
            n_blocks,
            n_train_rows,
            n_val,
            forward_prior=price.seconds_per_example,
            block_shares=price.block_shares,
            input_share=price.input_share,
            view_rows=view_rows,
            ratios=dict(price.backbone_ratios),
        )

    def observe(
        self,
        plan: TrialPlan,
        seconds: float,
        stage_seconds: list[float],
        curve: list,
        fill_rate: float | None,
        head_fit: bool = True,
        fill: float = 0.0,
        fill_boundary: int | None = None,
    ) -> None:
        """Learns from a finished (or stopped) trial: its fixed cost and its seconds per epoch at its depth.

        Args:
            seconds: The trial's wall time; `stage_seconds` its stages'; `curve` its epochs.
            fill_rate: Seconds per example the trial's cache fill took, if it filled any: the inputs
                and the blocks below `fill_boundary` (None: all of them, a head's fill).
            head_fit: The trial began with a converged-head stage (part of its fixed cost).
            fill: Seconds the trial spent filling the cache: paid once per boundary, so not part of
                the fixed cost of the trials after it.
        """
        other = plan.head_backbone
        if other is not None and fill > 0:  # another backbone's fill prices that backbone, not this one's blocks
            forward = self.forward_per_example or self.forward_prior
            rows = max(plan.dihedral_views - self.other_views_cached.get(other, 0), 0) * self.view_rows
            if forward and rows:
                self.ratios[other] = fill / (rows * forward)
            self.other_views_cached[other] = max(self.other_views_cached.get(other, 0), plan.dihedral_views)
        whole = self._whole_pass(fill_rate, fill_boundary) if fill_rate and other is None else None
        if whole is not None:
            self.forwards.append(whole)
        if plan.trainable_blocks == 0 and fill > 0 and other is None:
            self.views_cached = max(self.views_cached, plan.dihedral_views)  # its views are cached now
        first_tune = len(stage_seconds) if plan.trainable_blocks == 0 else int(head_fit)
        tune_seconds = sum(stage_seconds[first_tune:])
        head_fill = fill if plan.trainable_blocks == 0 else min(fill, max(seconds - tune_seconds, 0.0))
        self.overheads.append(max(seconds - tune_seconds - head_fill, 0.0))
        tuned = [m.seconds for m in curve if m.stage >= first_tune]
        if plan.trainable_blocks > 0 and tuned:
            self.epoch_seconds.setdefault(plan.trainable_blocks, []).extend(tuned)
            self.filled.add(plan.trainable_blocks)

    def top_share(self, k: int) -> float:
        """Share of a whole frozen pass (inputs included) the top `k` blocks take; the rest, the inputs
        and the blocks below, is what filling the cache at their boundary costs. Blocks count alike
        without measured shares. All the blocks take the whole pass: with no boundary to cache at,
        every epoch reads and prepares its inputs too."""
        if k >= self.n_blocks:
            return 1.0
        k = max(0, k)
        shares = self.block_shares
        if shares and len(shares) == self.n_blocks and sum(shares) > 0:
            blocks = sum(shares[self.n_blocks - k :]) / sum(shares)
        else:
            blocks = k / self.n_blocks if self.n_blocks else 0.0
        return (1.0 - self.input_share) * blocks

    def _whole_pass(self, fill_rate: float, boundary: int | None) -> float | None:
        """A whole frozen pass per example, from a fill's rate over the inputs and the blocks below
        `boundary`; None when they are under `MIN_SCALED_SHARE` of the pass."""
        below = 1.0 - self.top_share(self.n_blocks - (self.n_blocks if boundary is None else boundary))
        return fill_rate / below if below >= MIN_SCALED_SHARE else None

    @property
    def forward_per_example(self) -> float | None:
        """Seconds per example of a frozen forward pass: the median of the trials' measurements, None before any.

        Each trial measures part of the pass (the blocks below its boundary) and scales it up, so one
        measurement is noisy: on BBC 20/class (MiniLM, 7 blocks) they were 14.6 to 24.6 ms where the
        exported model scored the test split at 18.2 ms per example. The last of them priced that
        pass at 30 s, a trial started in the time it left, and the run overshot by 5.4%.
        """
        return statistics.median(self.forwards) if self.forwards else None

    def overhead(self) -> float:
        """Fixed seconds of a trial (load, build, head fit); 0 before the first trial."""
        return statistics.median(self.overheads) if self.overheads else 0.0

    def epoch(self, k: int) -> float | None:
        """Seconds of one fine-tuning epoch of the top `k` blocks (validation included), or None if unknown."""
        if k in self.epoch_seconds:
            return statistics.median(self.epoch_seconds[k])
        if self.epoch_seconds:
            nearest = min(self.epoch_seconds, key=lambda seen: abs(seen - k))
            nearest_share = max(self.top_share(nearest), 1e-9)
            return statistics.median(self.epoch_seconds[nearest]) * self.top_share(k) / nearest_share
        forward = self.forward_per_example or self.forward_prior
        if forward is None:
            return None
        return forward * self.top_share(k) * (self.n_train_rows * _BACKWARD_FACTOR + self.n_val)

    def head_fill(self, views: int, backbone: str | None = None) -> float:
        """Seconds a head-only trial on `views` dihedral views spends computing those the cache lacks
        (0 when none or unknown); on another `backbone`, at its pass's price (as dear as this one's when
        it was never timed)."""
        forward = self.forward_per_example or self.forward_prior
        if forward is None:
            return 0.0
        cached = self.views_cached if backbone is None else self.other_views_cached.get(backbone, 0)
        return forward * self.pass_ratio(backbone) * max(views - cached, 0) * self.view_rows

    def pass_ratio(self, backbone: str | None) -> float:
        """A pass of `backbone` (None: this search's own) in passes of this one (1.0 when never timed)."""
        return 1.0 if backbone is None else self.ratios.get(backbone, 1.0)

    def fill(self, k: int) -> float:
        """Seconds to fill the cache at the boundary below the top `k` blocks (0 once filled or when unknown)."""
        forward = self.forward_per_example or self.forward_prior
        if k in self.filled or forward is None or k >= self.n_blocks:
            return 0.0
        return forward * (self.n_train_rows + self.n_val) * (1.0 - self.top_share(k))

    def refit(
        self,
        plan: TrialPlan,
        seconds: float,
        n_train: int,
        n_val: int,
        views: int,
        cached: bool = True,
        fill: float = 0.0,
    ) -> float:
        """Seconds to retrain a trial of `seconds` on train + validation.

        A head-only refit reads the features of both splits its trial cached (`cached`; else it pays
        a frozen pass per view over train + validation): the trial's seconds but its `fill`, grown
        with the data (on dihedral views a fit reads 4 or 8 rows an image: seconds, not milliseconds).
        A fine-tuning refit's training split changes, so it grows with the data and pays the pass
        that fills its boundary with `views` augmented views again.
        """
        forward = (self.forward_per_example or 0.0) * (n_train + n_val)
        if plan.trainable_blocks == 0:
            fit = max(seconds - fill, 0.0) * (n_train + n_val) / max(n_train, 1)
            return fit + (0.0 if cached else forward * self.pass_ratio(plan.head_backbone) * plan.dihedral_views)
        return seconds * (n_train + n_val) / max(n_train, 1) + forward * views

    def epochs_that_fit(self, k: int, seconds: float) -> int | None:
        """Fine-tuning epochs of the top `k` blocks a trial can run in `seconds`, its fixed cost and
        cache fill paid first (0: not even one), or None while an epoch's price is unknown."""
        epoch = self.epoch(k)
        if epoch is None or epoch <= 0:
            return None
        return max(0, math.floor((seconds - self.overhead() - self.fill(k)) / epoch))

    def estimate(self, plan: TrialPlan) -> float | None:
        """Seconds the plan will take, or None when nothing is known yet (the first trials)."""
        if plan.trainable_blocks == 0:
            views = self.head_fill(plan.dihedral_views, plan.head_backbone)
            return self.overhead() + views if self.overheads or views else None
        epoch = self.epoch(plan.trainable_blocks)
        if epoch is None:
            return None
        return self.overhead() + self.fill(plan.trainable_blocks) + epoch * (plan.tune_epochs or 1)
