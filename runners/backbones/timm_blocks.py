"""Block adapters for timm models: EfficientNet-style CNNs, ResNets, ViTs, and a generic fallback."""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

from runners.backbones._base import BlockAdapter, State


class _TimmAdapter(BlockAdapter):
    """Shared pooling/head for timm models: `forward_head(pre_logits=True)` then the classifier."""

    def head(self) -> nn.Module:
        return self.model.get_classifier()

    def pool(self, state: State) -> torch.Tensor:
        return self.model.forward_head(state[0], pre_logits=True)


def channel_statistics(x: torch.Tensor) -> torch.Tensor:
    """(n, 2c): the mean and the standard deviation of each channel of a (n, c, h, w) map."""
    return torch.cat([x.mean((2, 3)), x.std((2, 3), correction=0)], 1)


class TimmEfficientNetAdapter(_TimmAdapter):
    """timm EfficientNet/MobileNet-style: stem, one block per stage, conv_head in the top block.

    `encode` also keeps the channel statistics of the upper half of the stages, so the state at the
    top is (pooled features, statistics): a plain classifier reads the first, a `StageStatsNet`'s
    both, from the same cached pass.
    """

    family = "timm-efficientnet"
    state_format = "pooled+stage-statistics"

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        from timm.models.efficientnet import EfficientNet

        return isinstance(model, EfficientNet)

    @property
    def net(self) -> Any:
        """The timm EfficientNet."""
        return self.model

    def build_blocks(self) -> list[list[nn.Module | nn.Parameter]]:
        m = self.net
        stages: list[list[nn.Module | nn.Parameter]] = [[s] for s in m.blocks]
        stages[-1] += [m.conv_head, m.bn2]
        return [[m.conv_stem, m.bn1], *stages]

    def pool(self, state: State) -> torch.Tensor:
        return self.net.forward_head(state[0], pre_logits=True)

    def run_block(self, i: int, state: State) -> State:
        return self.encode(state, i, i + 1)

    def _stage(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Block `i` without the top's conv_head: the stem, or stage `i - 1`."""
        m = self.net
        return m.bn1(m.conv_stem(x)) if i == 0 else m.blocks[i - 1](x)

    def _top(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.bn2(self.net.conv_head(x))

    @property
    def tapped_blocks(self) -> range:
        """Blocks whose output's channel statistics `encode` keeps: the upper half of the stages
        (stages 3 to 6 of EfficientNet-Lite's 7, before the top's conv_head)."""
        return range(1 + (self.n_blocks - 1) // 2, self.n_blocks)

    def statistics_width(self) -> int:
        """Length of the statistics at the top: two per channel of each tapped stage."""
        return sum(2 * _out_channels(self.net.blocks[i - 1]) for i in self.tapped_blocks)

    def encode(self, state: State, start: int, end: int) -> State:
        """Runs blocks[start:end]. A state past a tapped block carries its statistics after the map,
        and the state at the top is (pooled features, the tapped stages' statistics, concatenated)."""
        x, stats = state[0], list(state[1:])
        for i in range(start, end):
            x = self._stage(i, x)
            if i in self.tapped_blocks:
                stats.append(channel_statistics(x))
        if end == self.n_blocks and start < end:
            return (self.pool((self._top(x),)), torch.cat(stats, 1))
        return (x, *stats)


def _out_channels(stage: nn.Module) -> int:
    """Channels a stage outputs: its last BatchNorm's (every EfficientNet block ends in conv + BatchNorm)."""
    return [m for m in stage.modules() if isinstance(m, nn.BatchNorm2d)][-1].num_features


class StageStatsNet(nn.Module):
    """A timm EfficientNet whose classifier reads, beside its pooled features, the channel means and
    standard deviations of the upper half of its stages (`TrialSpec.head_features="stage_statistics"`).

    Far from ImageNet the top block's features are the least general (Yosinski et al., NeurIPS
    2014): on ELPV binary a converged linear head on these features scored 0.866 against 0.859 on the
    pooled ones alone, mean over 8 splits (`bench/bench_elpv_layers.py`). The weights are timm's under `net.`.
    """

    def __init__(self, net: nn.Module, n_classes: int) -> None:
        super().__init__()
        cast(Any, net).reset_classifier(0)
        self.net = net
        adapter = TimmStageStatsAdapter(self)
        self.classifier: nn.Module = nn.Linear(cast(Any, net).num_features + adapter.statistics_width(), n_classes)

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        adapter = TimmStageStatsAdapter(self)
        return self.classifier(adapter.head_input(adapter.encode((x,), 0, adapter.n_blocks)))


class TimmStageStatsAdapter(TimmEfficientNetAdapter):
    """A `StageStatsNet`: its EfficientNet's blocks, and a head on the top state's two parts."""

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        return isinstance(model, StageStatsNet)

    @property
    def net(self) -> Any:
        return self.model.net

    def head_input(self, state: State) -> torch.Tensor:
        if len(state) != 2:
            raise ValueError("a stage-statistics head reads a whole pass's top state: (pooled features, statistics)")
        return torch.cat(state, 1)


class TimmResNetAdapter(_TimmAdapter):
    """timm ResNet family: stem (conv1/bn1/act/maxpool) then layer1..layer4."""

    family = "timm-resnet"

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        from timm.models.resnet import ResNet

        return isinstance(model, ResNet)

    def build_blocks(self) -> list[list[nn.Module | nn.Parameter]]:
        m = self.model
        return [[m.conv1, m.bn1, m.act1, m.maxpool], [m.layer1], [m.layer2], [m.layer3], [m.layer4]]

    def run_block(self, i: int, state: State) -> State:
        m, x = self.model, state[0]
        if i == 0:
            return (m.maxpool(m.act1(m.bn1(m.conv1(x)))),)
        return (getattr(m, f"layer{i}")(x),)


class TimmViTAdapter(_TimmAdapter):
    """timm VisionTransformer: patch/position embedding as stem, one block per transformer block."""

    family = "timm-vit"

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        from timm.models.vision_transformer import VisionTransformer

        return isinstance(model, VisionTransformer)

    def build_blocks(self) -> list[list[nn.Module | nn.Parameter]]:
        m = self.model
        stem: list[nn.Module | nn.Parameter] = [m.patch_embed, m.norm_pre]
        stem += [
            p for p in (getattr(m, "cls_token", None), getattr(m, "reg_token", None), m.pos_embed) if p is not None
        ]
        blocks: list[list[nn.Module | nn.Parameter]] = [[b] for b in m.blocks]
        blocks[-1] += [m.norm, m.fc_norm]
        return [stem, *blocks]

    def run_block(self, i: int, state: State) -> State:
        m, x = self.model, state[0]
        if i == 0:
            return (m.norm_pre(m.patch_drop(m._pos_embed(m.patch_embed(x)))),)
        x = m.blocks[i - 1](x)
        if i == self.n_blocks - 1:
            x = m.norm(x)
        return (x,)


class TimmGenericAdapter(_TimmAdapter):
    """Any other timm model: the whole feature extractor is one block (head-only or full fine-tuning)."""

    family = "timm-generic"

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        return all(hasattr(model, a) for a in ("forward_features", "forward_head", "get_classifier"))

    def build_blocks(self) -> list[list[nn.Module | nn.Parameter]]:
        head_ids = {id(p) for p in self.model.get_classifier().parameters()}
        return [[p for p in self.model.parameters() if id(p) not in head_ids]]

    def block_modules(self, i: int) -> list[nn.Module]:
        return [m for m in self.model.children() if m is not self.model.get_classifier()]

    def run_block(self, i: int, state: State) -> State:
        return (self.model.forward_features(state[0]),)
