"""Contract test every registered block adapter passes, on tiny random-weight models."""

from pathlib import Path

import pytest
import timm
import torch

from runners.backbones.registry import ADAPTERS, adapter_for


def _bert(tiny_bert_dir: Path):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_bert_dir, num_labels=3, ignore_mismatched_sizes=True
    )
    ids = torch.randint(5, 20, (2, 7))
    mask = torch.ones_like(ids)
    mask[1, 4:] = 0
    return model, (ids, mask)


def _timm(name, **kw):
    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, num_classes=3, **kw), (torch.randn(2, 3, 32, 32),)


MODELS = {
    "timm-resnet": lambda _: _timm("resnet18"),
    "timm-efficientnet": lambda _: _timm("efficientnet_lite0"),
    "timm-vit": lambda _: _timm("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=3),
    "hf-bert-like": _bert,
    "timm-generic": lambda _: _timm("convnext_atto"),
}
EXPECTED_BLOCKS = {"timm-resnet": 5, "timm-efficientnet": 8, "timm-vit": 4, "hf-bert-like": 3, "timm-generic": 1}


def test_every_registered_family_has_a_contract_case():
    assert {cls.family for cls in ADAPTERS} == set(MODELS)


@pytest.fixture(params=sorted(MODELS))
def case(request, tiny_bert_dir):
    model, inputs = MODELS[request.param](tiny_bert_dir)
    return request.param, model.eval(), inputs


def test_adapter_is_chosen_by_detection(case):
    family, model, _ = case
    adapter = adapter_for(model)
    assert adapter.family == family
    assert adapter.n_blocks == EXPECTED_BLOCKS[family]


def test_split_forward_equals_reference_at_every_boundary(case):
    family, model, inputs = case
    adapter = adapter_for(model)
    with torch.no_grad():
        if family == "hf-bert-like":  # reference: HF encoder output, masked-mean pooled, then classifier
            hidden = model.base_model(input_ids=inputs[0], attention_mask=inputs[1]).last_hidden_state
            w = inputs[1].unsqueeze(-1).float()
            ref = model.classifier((hidden * w).sum(1) / w.sum(1))
        else:
            ref = model(*inputs)
        for b in range(adapter.n_blocks + 1):
            state = adapter.encode(inputs, 0, b)
            torch.testing.assert_close(adapter.forward_from(state, b), ref, atol=1e-5, rtol=1e-4)


def test_blocks_partition_the_parameters(case):
    family, model, _ = case
    adapter = adapter_for(model)
    seen: set[int] = set()
    for i in range(adapter.n_blocks):
        ids = {id(p) for p in adapter.block_parameters(i)}
        assert ids and not ids & seen, f"block {i} empty or overlapping"
        seen |= ids
    head = {id(p) for p in adapter.head().parameters()}
    assert not head & seen
    unused = {id(p) for n, p in model.named_parameters() if "pooler" in n}  # BERT CLS pooler is unused
    assert {id(p) for p in model.parameters()} - unused == seen | head


@pytest.mark.parametrize("k", [0, 1, 2, 99])
def test_set_trainable_unfreezes_exactly_the_top_k(case, k):
    _, model, _ = case
    adapter = adapter_for(model)
    b = adapter.set_trainable(k)
    assert b == adapter.n_blocks - min(k, adapter.n_blocks)
    for i in range(adapter.n_blocks):
        assert all(p.requires_grad == (i >= b) for p in adapter.block_parameters(i))
    assert all(p.requires_grad for p in adapter.head().parameters())


def test_frozen_blocks_stay_in_eval_mode(case):
    _, model, _ = case
    adapter = adapter_for(model)
    b = adapter.set_trainable(1)
    adapter.train_mode(True, b)
    assert all(not m.training for i in range(b) for m in adapter.block_modules(i))
    assert all(m.training for m in adapter.block_modules(adapter.n_blocks - 1))


def test_frozen_batchnorm_keeps_the_trained_blocks_statistics(case):
    _, model, _ = case
    adapter = adapter_for(model)
    b = adapter.set_trainable(adapter.n_blocks)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    adapter.train_mode(True, b, freeze_batchnorm=True)
    assert all(not m.training for m in norms)
    assert all(p.requires_grad for m in norms for p in m.parameters())  # scale and shift still train
    adapter.train_mode(True, b)
    assert all(m.training for m in norms)
