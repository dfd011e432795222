"""Convolutional frame encoder and transposed-convolutional frame decoder for square images."""
from __future__ import annotations

import math

import torch
from torch import nn


def _num_stages(image_size: int) -> int:
    """Number of stride-2 stages that take ``image_size`` down to a 4x4 feature map."""
    stages = math.log2(image_size / 4)
    if image_size < 8 or stages != int(stages):
        raise ValueError(f"image_size must be a power of two >= 8 (got {image_size})")
    return int(stages)


class FrameEncoder(nn.Module):
    """Maps frames (..., C, H, W) to feature vectors (..., out_dim) with 4x4 stride-2 convolutions."""

    def __init__(self, image_size: int, channels: int, out_dim: int, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = channels
        for stage in range(_num_stages(image_size)):
            out_ch = width * 2 ** min(stage, 3)
            layers += [nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1), nn.GroupNorm(min(8, out_ch), out_ch), nn.LeakyReLU(0.2)]
            in_ch = out_ch
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(in_ch * 16, out_dim), nn.LeakyReLU(0.2))
        self.image_size, self.channels, self.out_dim = image_size, channels, out_dim

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        lead = frames.shape[:-3]
        if tuple(frames.shape[-3:]) != (self.channels, self.image_size, self.image_size):
            raise ValueError(
                f"FrameEncoder expects frames of shape (..., {self.channels}, {self.image_size}, {self.image_size}), "
                f"got {tuple(frames.shape)}"
            )
        features = self.fc(self.conv(frames.reshape(-1, *frames.shape[-3:])))
        return features.reshape(*lead, self.out_dim)


class FrameDecoder(nn.Module):
    """Maps codes (..., in_dim) to per-pixel parameters (..., C, H, W) (unconstrained: logits or pre-sigmoid means)."""

    def __init__(self, in_dim: int, image_size: int, channels: int, width: int = 32) -> None:
        super().__init__()
        stages = _num_stages(image_size)
        top_ch = width * 2 ** min(stages - 1, 3)
        self.fc = nn.Sequential(nn.Linear(in_dim, top_ch * 16), nn.LeakyReLU(0.2))
        layers: list[nn.Module] = []
        in_ch = top_ch
        for stage in reversed(range(stages)):
            last = stage == 0
            out_ch = channels if last else width * 2 ** min(stage - 1, 3)
            layers.append(nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1))
            if not last:
                layers += [nn.GroupNorm(min(8, out_ch), out_ch), nn.LeakyReLU(0.2)]
            in_ch = out_ch
        self.deconv = nn.Sequential(*layers)
        self.top_ch, self.in_dim = top_ch, in_dim
        self.frame_shape = (channels, image_size, image_size)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        lead = code.shape[:-1]
        hidden = self.fc(code.reshape(-1, self.in_dim)).reshape(-1, self.top_ch, 4, 4)
        return self.deconv(hidden).reshape(*lead, *self.frame_shape)
