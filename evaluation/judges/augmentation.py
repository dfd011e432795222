"""Degradations of frames, for augmenting judge training and for the held-out conditions (clean, blurred, resampled)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from evaluation.judges.common import CONDITIONS, PIXEL_RANGE, JudgeError



# ---------------------------------------------------------------- degradations (augmentation and evaluation)
def box_blur(images: torch.Tensor, size: int = 3) -> torch.Tensor:
    """Blur (N, C, H, W) images with a size x size box filter; edges replicated, so constants stay constant."""
    if size <= 1:
        return images
    before, after = (size - 1) // 2, size // 2
    padded = F.pad(images, (before, after, before, after), mode="replicate")
    return F.avg_pool2d(padded, size, stride=1)


def resample(images: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Average (N, C, H, W) images down by ``factor`` and scale them back up bilinearly (loses fine detail)."""
    if factor <= 1:
        return images
    height, width = images.shape[-2:]
    small = F.interpolate(images, size=(max(1, height // factor), max(1, width // factor)), mode="area")
    return F.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)


def add_noise(images: torch.Tensor, std: float | torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Add Gaussian noise of standard deviation ``std`` (a number or one per image, shape (N,))."""
    std = torch.as_tensor(std, dtype=images.dtype).reshape(-1, *([1] * (images.dim() - 1)))
    noise = torch.randn(images.shape, generator=generator, dtype=images.dtype)
    return images + std * noise.to(images.device)


@dataclass(frozen=True)
class Augmentation:
    """Per-image probabilities and strengths of the reconstruction-like degradations used in training."""

    blur_prob: float = 0.4
    blur_size: int = 3
    resample_prob: float = 0.3
    resample_factor: int = 2
    noise_prob: float = 0.5
    noise_std: float = 0.05  # each noisy image draws its std uniformly from [0, noise_std]
    value_range: tuple[float, float] | None = PIXEL_RANGE  # clamp after degrading (None: spectra)


def augment(images: torch.Tensor, aug: Augmentation, generator: torch.Generator) -> torch.Tensor:
    """Degrade each of (N, C, H, W) images at random: box blur, then down/up-resampling, then noise."""
    count = images.shape[0]

    def chosen(prob: float) -> torch.Tensor:
        return (torch.rand(count, generator=generator) < prob).reshape(count, 1, 1, 1).to(images.device)

    out = images
    if aug.blur_prob > 0:
        out = torch.where(chosen(aug.blur_prob), box_blur(out, aug.blur_size), out)
    if aug.resample_prob > 0:
        out = torch.where(chosen(aug.resample_prob), resample(out, aug.resample_factor), out)
    if aug.noise_prob > 0 and aug.noise_std > 0:
        std = torch.rand(count, generator=generator) * aug.noise_std * chosen(aug.noise_prob).reshape(count).cpu()
        out = add_noise(out, std, generator)
    return out.clamp(*aug.value_range) if aug.value_range is not None else out


def degrade(images: torch.Tensor, condition: str) -> torch.Tensor:
    """Apply one deterministic evaluation condition to (N, C, H, W) images: clean, blurred (3x3) or resampled (x2)."""
    if condition == "clean":
        return images
    if condition == "blurred":
        return box_blur(images, 3)
    if condition == "resampled":
        return resample(images, 2)
    raise JudgeError(f"unknown evaluation condition {condition!r}; valid: {', '.join(CONDITIONS)}")


