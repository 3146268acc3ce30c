"""Block adapters for timm models: EfficientNet-style CNNs, ResNets, ViTs, and a generic fallback."""

from __future__ import annotations

import torch
from torch import nn

from runners.backbones._base import BlockAdapter, State


class _TimmAdapter(BlockAdapter):
    """Shared pooling/head for timm models: `forward_head(pre_logits=True)` then the classifier."""

    def head(self) -> nn.Module:
        return self.model.get_classifier()

    def pool(self, state: State) -> torch.Tensor:
        return self.model.forward_head(state[0], pre_logits=True)


class TimmEfficientNetAdapter(_TimmAdapter):
    """timm EfficientNet/MobileNet-style: stem, one block per stage, conv_head in the top block."""

    family = "timm-efficientnet"

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        from timm.models.efficientnet import EfficientNet

        return isinstance(model, EfficientNet)

    def build_blocks(self) -> list[list[nn.Module | nn.Parameter]]:
        m = self.model
        stages: list[list[nn.Module | nn.Parameter]] = [[s] for s in m.blocks]
        stages[-1] += [m.conv_head, m.bn2]
        return [[m.conv_stem, m.bn1], *stages]

    def run_block(self, i: int, state: State) -> State:
        m, x = self.model, state[0]
        if i == 0:
            return (m.bn1(m.conv_stem(x)),)
        x = m.blocks[i - 1](x)
        if i == self.n_blocks - 1:
            x = m.bn2(m.conv_head(x))
        return (x,)


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
