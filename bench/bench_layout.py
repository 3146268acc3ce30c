"""What the memory layout (and, for comparison, CPU bfloat16) does to a timm backbone's speed.

`runners.backbones.build.channels_last` puts every timm model the runners build or load in the
NHWC layout. This prints, for one backbone with the packaged (or resolved) weights, milliseconds
per example for a frozen forward pass and for a training step (forward + backward of the whole
model), in the layout timm creates (NCHW) and in channels last, and the largest difference of the
frozen pass's pooled features against NCHW. Example (about a minute on 2 CPU cores):

    HF_HUB_OFFLINE=1 python bench/bench_layout.py --backbone efficientnet_lite0
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable

import torch

import runners
from runners.backbones.build import build_timm, channels_last


def per_example_ms(step: Callable[[], torch.Tensor], batch: int, repeats: int) -> tuple[float, torch.Tensor]:
    """Fastest of `repeats` timed calls after one warm-up, in ms per example, and the last output."""
    out = step()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = step()
        best = min(best, time.perf_counter() - start)
    return best / batch * 1000, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    choice = runners.resolve_backbone(args.backbone, "image")
    model, cfg = build_timm(choice, 2, {})
    side = cfg["input_size"]
    x = torch.randn(args.batch, 3, side, side)
    bf16_cpu = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731
    layouts = {
        "NCHW (timm's default)": (model.to(memory_format=torch.contiguous_format), contextlib.nullcontext),
        "channels last": (channels_last(model), contextlib.nullcontext),
        "channels last + bfloat16 autocast": (model, bf16_cpu),
    }
    reference: torch.Tensor | None = None
    print(f"{args.backbone} at {side} px, batch {args.batch}, {args.threads} threads, torch {torch.__version__}")
    print("| layout | frozen pass, ms/example | training step, ms/example | largest feature difference |")
    print("|---|---|---|---|")
    frozen_rows: dict[str, tuple[float, float]] = {}
    for name, (net, precision) in layouts.items():  # every frozen pass before any training step moves BatchNorm
        net.to(memory_format=torch.channels_last if "channels last" in name else torch.contiguous_format)

        def frozen(net=net, precision=precision) -> torch.Tensor:
            net.eval()
            with torch.no_grad(), precision():
                return net.forward_head(net.forward_features(x), pre_logits=True).float()

        frozen_ms, features = per_example_ms(frozen, args.batch, args.repeats)
        reference = features if reference is None else reference
        frozen_rows[name] = frozen_ms, (features - reference).abs().max().item()
    for name, (net, precision) in layouts.items():
        net.to(memory_format=torch.channels_last if "channels last" in name else torch.contiguous_format)

        def train_step(net=net, precision=precision) -> torch.Tensor:
            net.train()
            net.zero_grad()
            with precision():
                loss = net(x).float().logsumexp(dim=1).mean()
            loss.backward()
            return loss.detach()

        train_ms, _ = per_example_ms(train_step, args.batch, args.repeats)
        frozen_ms, diff = frozen_rows[name]
        print(f"| {name} | {frozen_ms:.1f} | {train_ms:.1f} | {diff:.2e} |")


if __name__ == "__main__":
    main()
