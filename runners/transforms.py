"""Image transforms: deterministic eval preprocessing and strength-scaled training augmentation."""

from __future__ import annotations

from torchvision import transforms as T

from runners.specs import AugmentConfig

_INTERP = {
    "bicubic": T.InterpolationMode.BICUBIC,
    "bilinear": T.InterpolationMode.BILINEAR,
    "nearest": T.InterpolationMode.NEAREST,
}


def eval_resize(size: int, data_cfg: dict) -> int:
    """The shorter side images are resized to before the centre crop of `size`: size / crop_pct."""
    return int(round(size / data_cfg.get("crop_pct", 1.0)))


def eval_transform(size: int, data_cfg: dict) -> T.Compose:
    """Resize to size / crop_pct, centre-crop `size`, normalise with the backbone's mean/std."""
    interp = _INTERP.get(data_cfg.get("interpolation", "bilinear"), T.InterpolationMode.BILINEAR)
    return T.Compose(
        [
            T.Resize(eval_resize(size, data_cfg), interpolation=interp),
            T.CenterCrop(size),
            T.ToTensor(),
            T.Normalize(data_cfg["mean"], data_cfg["std"]),
        ]
    )


def train_transform(size: int, data_cfg: dict, aug: AugmentConfig) -> T.Compose:
    """Eval preprocessing with random crop/flip/rotation/colour jitter scaled by `aug.strength`."""
    if not aug.enabled:
        return eval_transform(size, data_cfg)
    s = aug.strength
    interp = _INTERP.get(data_cfg.get("interpolation", "bilinear"), T.InterpolationMode.BILINEAR)
    steps: list = []
    if aug.crop:
        steps.append(T.RandomResizedCrop(size, scale=(max(0.08, 1.0 - 0.7 * s), 1.0), interpolation=interp))
    else:
        steps += [T.Resize(eval_resize(size, data_cfg), interpolation=interp), T.CenterCrop(size)]
    if aug.flip:
        steps.append(T.RandomHorizontalFlip())
    if aug.rotation and s > 0:
        steps.append(T.RandomRotation(30 * s, interpolation=T.InterpolationMode.BILINEAR))
    if aug.color_jitter and s > 0:
        steps.append(T.ColorJitter(0.4 * s, 0.4 * s, 0.4 * s))
    steps += [T.ToTensor(), T.Normalize(data_cfg["mean"], data_cfg["std"])]
    return T.Compose(steps)
