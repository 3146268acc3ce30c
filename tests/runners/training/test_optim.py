"""Tests for parameter groups, layer-wise LR decay and schedules."""

import timm
import torch

from runners.backbones.registry import adapter_for
from runners.specs import StageSpec
from runners.training.optim import make_scheduler, param_groups


def _groups(k, **stage):
    adapter = adapter_for(timm.create_model("resnet18", pretrained=False, num_classes=3))
    b = adapter.set_trainable(k)
    return adapter, param_groups(adapter, b, StageSpec(trainable_blocks=k, **stage), weight_decay=0.05)


def test_head_only_has_only_head_groups():
    _, groups = _groups(0, lr_head=1e-2)
    assert {g["name"] for g in groups} == {"head"} and all(g["lr"] == 1e-2 for g in groups)


def test_layer_decay_multiplies_per_block_going_down():
    adapter, groups = _groups(3, lr_head=1e-2, lr_backbone=1e-3, layer_decay=0.5)
    lrs = {g["name"]: g["lr"] for g in groups}
    assert lrs == {"head": 1e-2, "block4": 1e-3, "block3": 5e-4, "block2": 2.5e-4}


def test_no_weight_decay_on_biases_and_norms():
    _, groups = _groups(1)
    for g in groups:
        assert (g["weight_decay"] == 0.0) == all(p.dim() <= 1 for p in g["params"])


def test_cosine_warmup_then_decay():
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched, per_batch = make_scheduler(opt, "cosine", total_steps=20, warmup_fraction=0.2)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert per_batch and lrs[0] < lrs[3] and max(lrs) == lrs[4] and lrs[-1] < 0.05


def test_plateau_steps_per_epoch():
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched, per_batch = make_scheduler(opt, "plateau", total_steps=20, warmup_fraction=0.1)
    assert not per_batch
    for _ in range(4):
        sched.step(1.0)
    assert opt.param_groups[0]["lr"] < 1.0
