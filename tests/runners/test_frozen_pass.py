"""The frozen passes: pooled features of every example, and BatchNorm drift as the documented distance."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from runners import get_runner
from runners.backbones.build import load_tokenizer
from runners.drift import _MomentMeter


def test_drift_of_one_layer_is_the_standardised_shift_plus_log_scale() -> None:
    bn = nn.BatchNorm2d(3)
    bn.running_mean.copy_(torch.tensor([0.0, 0.0, 5.0]))
    bn.running_var.copy_(torch.tensor([1.0, 4.0, 0.0]))  # channel 2 is dead: excluded
    meter = _MomentMeter(bn)
    torch.manual_seed(0)
    x = torch.randn(64, 3, 16, 16) * 2 + 1  # per channel: mean 1, std 2
    meter(bn, (x[:32],), None)
    meter(bn, (x[32:],), None)  # moments accumulate across batches
    mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False)
    expected = [
        float(
            (mean[c] - bn.running_mean[c]).abs() / bn.running_var[c].sqrt()
            + 0.5 * (var[c] / bn.running_var[c]).log().abs()
        )
        for c in (0, 1)
    ]
    assert meter.drift() == pytest.approx(sum(expected) / 2, rel=1e-4)
    assert expected[0] == pytest.approx(1 + 0.5 * math.log(4), abs=0.05)  # the textbook case: shift 1, scale ×2


def test_a_sampled_drift_measures_batches_spread_over_the_pass() -> None:
    """A quarter of 8 batches: the first and the fifth, not the first two (a split may come class by class)."""
    bn = nn.BatchNorm2d(1)
    meter = _MomentMeter(bn, share=0.25)
    for value in range(8):  # batch `value` holds 4 examples, every pixel `value`
        meter(bn, (torch.full((4, 1, 2, 2), float(value)),), None)
    assert (meter.seen, meter.examples) == (32, 8)
    assert meter.sum is not None and float(meter.sum[0] / meter.count) == pytest.approx((0 + 4) / 2)
    every = _MomentMeter(bn)
    for value in range(8):
        every(bn, (torch.full((4, 1, 2, 2), float(value)),), None)
    assert every.examples == 32 and every.sum is not None and float(every.sum[0] / every.count) == pytest.approx(3.5)


def test_image_features_and_drift_cover_every_example_and_block(colour_images) -> None:  # noqa: ANN001
    images, _ = colour_images(6)
    done: list[tuple[int, int]] = []
    result = get_runner("image").frozen_features(
        "resnet18",
        images,
        weights="none",
        image_size=32,
        batch_size=5,
        progress=lambda d, t: done.append((d, t)),
    )
    assert result.features.shape == (len(images), 512)
    assert result.n_blocks == 5 and result.block_drift is not None and len(result.block_drift) == 5
    assert all(d is not None and d >= 0 for d in result.block_drift)
    assert done[-1] == (len(images), len(images)) and len(done) == math.ceil(len(images) / 5)
    assert result.backbone.weights_source == "random"
    assert result.n_params > 11_000_000


def test_a_pass_is_timed_on_one_batch_of_the_inputs_and_priced_per_example(colour_images, monkeypatch) -> None:  # noqa: ANN001
    """`pass_seconds` prices a backbone before any pass over the data: one batch (never more), run twice
    (the first warms up), its seconds divided by the examples in it."""
    runner = get_runner("image")
    images, _ = colour_images(6)
    seen: list[int] = []
    batches = runner.frozen_batches

    def counted(bundle, inputs, batch_size, **kwargs):  # noqa: ANN001, ANN202
        seen.append(len(inputs))
        return batches(bundle, inputs, batch_size, **kwargs)

    monkeypatch.setattr(runner, "frozen_batches", counted)
    clock = iter([0.0, 1.0, 10.0, 12.0])  # warm-up 1 s, then 2 s for the batch of 4
    monkeypatch.setattr("runners.runner.time.perf_counter", lambda: next(clock))
    seconds = runner.pass_seconds("resnet18", images, weights="none", image_size=32, batch_size=4)
    assert seen == [4, 4] and seconds == pytest.approx(2.0 / 4)


def test_text_backbones_have_no_drift_but_give_pooled_features(tiny_bert_dir: Path, keyword_texts) -> None:  # noqa: ANN001
    texts, _ = keyword_texts(4)
    result = get_runner("text").frozen_features("tiny-bert", texts, weights=str(tiny_bert_dir), max_length=16)
    assert result.features.shape == (len(texts), 32)
    assert result.block_drift is None and result.layer_drift == []
    tokenizer = load_tokenizer("tiny-bert", str(tiny_bert_dir))
    assert tokenizer("alpha")["input_ids"][0] == tokenizer.cls_token_id


def test_frozen_pass_fills_exactly_what_a_head_only_trial_reads(image_spec) -> None:  # noqa: ANN001
    from runners import ActivationCache, StageSpec, TimmRunner

    spec = image_spec(stages=[StageSpec(trainable_blocks=0, epochs=1, lr_head=1e-2)])
    runner = TimmRunner(cache=ActivationCache())
    seen: list[tuple[int, int]] = []
    frozen = runner.frozen_pass(spec, lambda done, total: seen.append((done, total)))
    result = runner.run(spec)
    assert result.cache_hits == 2  # train and val features come from the frozen pass, not a new forward
    n = result.n_train + result.n_val  # progress: from 0 to every example measured, batch by batch
    assert seen[0] == (0, n) and seen[-1] == (n, n) and len(seen) > 2
    assert all(a[0] < b[0] for a, b in zip(seen, seen[1:], strict=False))
    assert frozen.features.shape == (result.n_train + result.n_val, 512)
    assert frozen.labels is not None and len(frozen.labels) == len(frozen.inputs or []) == frozen.features.shape[0]
    assert frozen.block_drift is not None and len(frozen.block_drift) == 5
    assert frozen.block_seconds is not None and len(frozen.block_seconds) == 5
    assert all(s > 0 for s in frozen.block_seconds)
    assert frozen.input_seconds is not None and frozen.input_seconds > 0
    again = runner.frozen_pass(spec)  # everything cached now: still measured, on a private cache
    assert again.block_drift == pytest.approx(frozen.block_drift)
    assert again.features == pytest.approx(frozen.features)
    assert frozen.drift_examples == n
    sampled = runner.frozen_pass(spec, drift_sample=n // 3)  # batches of 8 spread over the pass
    assert n // 3 <= sampled.drift_examples < n // 3 + spec.batch_size
    assert sampled.features == pytest.approx(frozen.features)  # the features are every example's still


def test_augmented_trial_fits_its_head_on_the_frozen_pass_and_fine_tunes_on_views(image_spec) -> None:  # noqa: ANN001
    from runners import ActivationCache, AugmentConfig, StageSpec, TimmRunner

    spec = image_spec(
        augment=AugmentConfig(enabled=True),
        stages=[StageSpec(trainable_blocks=0, head_c=1.0), StageSpec(trainable_blocks=1, epochs=1, lr_backbone=1e-4)],
    )
    runner = TimmRunner(cache=ActivationCache())
    frozen = runner.frozen_pass(spec)
    result = runner.run(spec)
    # The head reads the clean train and val features the frozen pass left; the fine-tuning stage
    # fills its own boundary (augmented views of train, clean val): two hits, then new entries.
    assert result.cache_hits == 2
    assert frozen.features.shape[0] == result.n_train + result.n_val
    assert result.fill_seconds > 0  # the views at the fine-tuning boundary were computed
    # Its rate is the fill's own, below the top block (boundary 4 of 5), not scaled to a whole pass.
    assert result.fill_boundary == 4 and result.fill_seconds_per_example is not None
    filled = 2 * result.n_train + result.n_val  # two cached views of each training image (the default), clean val
    assert result.fill_seconds_per_example * filled == pytest.approx(result.fill_seconds)


def test_block_timing_charges_each_block_its_own_seconds(monkeypatch) -> None:  # noqa: ANN001
    """A block made 0.5 s slower is the one charged for it, and only it (the others together get
    under half the delay, a margin that holds on a loaded 2-core machine)."""
    import time

    from runners.backbones.build import build_timm
    from runners.backbones.registry import adapter_for
    from runners.backbones.resolve import resolve_backbone

    model, _ = build_timm(resolve_backbone("resnet18", "image", "none"), 2, {})
    adapter = adapter_for(model.eval())
    run_block = adapter.run_block

    def slow_third(i, state):  # noqa: ANN001, ANN202
        if i == 2:
            time.sleep(0.5)
        return run_block(i, state)

    monkeypatch.setattr(adapter, "run_block", slow_third)
    x = (torch.randn(2, 3, 32, 32),)
    with torch.no_grad():
        seconds = adapter.time_blocks(x)
    assert len(seconds) == adapter.n_blocks and max(seconds) == seconds[2] >= 0.5
    assert sum(seconds) - seconds[2] < 0.25


def test_text_frozen_pass_is_reused_by_the_trial(text_spec) -> None:  # noqa: ANN001
    from runners import ActivationCache, HFTextRunner, StageSpec

    spec = text_spec(stages=[StageSpec(trainable_blocks=0, epochs=1, lr_head=1e-2)])
    runner = HFTextRunner(cache=ActivationCache())
    frozen = runner.frozen_pass(spec)
    assert frozen.block_drift is None and frozen.features.shape[1] == 32
    assert frozen.block_seconds is not None and len(frozen.block_seconds) == frozen.n_blocks
    assert runner.run(spec).cache_hits == 2
