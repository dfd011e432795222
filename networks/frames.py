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


def _stage_width(width: int, stage: int, growth: bool) -> int:
    """Channels of a stage: doubling per stage up to 8x ``width`` when ``growth``, else constant."""
    return width * 2 ** min(stage, 3) if growth else width


class FrameEncoder(nn.Module):
    """Maps frames (..., C, H, W) to feature vectors (..., out_dim) with 4x4 stride-2 convolutions."""

    def __init__(self, image_size: int, channels: int, out_dim: int, width: int = 32, growth: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = channels
        for stage in range(_num_stages(image_size)):
            out_ch = _stage_width(width, stage, growth)
            layers += [nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1), nn.GroupNorm(min(8, out_ch), out_ch), nn.LeakyReLU(0.2)]
            in_ch = out_ch
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(in_ch * 16, out_dim), nn.LeakyReLU(0.2))
        self.image_size, self.channels, self.out_dim, self.map_channels = image_size, channels, out_dim, in_ch

    def feature_map(self, frames: torch.Tensor) -> torch.Tensor:
        """The convolutional trunk alone: (..., C, H, W) -> (..., map_channels, 4, 4)."""
        lead = frames.shape[:-3]
        if tuple(frames.shape[-3:]) != (self.channels, self.image_size, self.image_size):
            raise ValueError(
                f"FrameEncoder expects frames of shape (..., {self.channels}, {self.image_size}, {self.image_size}), "
                f"got {tuple(frames.shape)}"
            )
        return self.conv(frames.reshape(-1, *frames.shape[-3:])).reshape(*lead, self.map_channels, 4, 4)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        feature_map = self.feature_map(frames)
        return self.fc(feature_map.reshape(-1, self.map_channels, 4, 4)).reshape(*feature_map.shape[:-3], self.out_dim)


class FrameDecoder(nn.Module):
    """Maps codes (..., in_dim) to per-pixel parameters (..., C, H, W) (unconstrained: logits or pre-sigmoid means)."""

    def __init__(self, in_dim: int, image_size: int, channels: int, width: int = 32, growth: bool = True, hidden_dim: int = 0) -> None:
        """``hidden_dim`` > 0 puts a dense hidden layer before the one that makes the first 4x4 map: codes whose parts must
        interact (what is drawn, and where) then get a nonlinearity before any spatial map exists."""
        super().__init__()
        if hidden_dim < 0:
            raise ValueError(f"hidden_dim must be >= 0 (0: no hidden layer), got {hidden_dim}")
        stages = _num_stages(image_size)
        top_ch = _stage_width(width, stages - 1, growth)
        dense = [nn.Linear(in_dim, hidden_dim), nn.LeakyReLU(0.2)] if hidden_dim else []
        self.fc = nn.Sequential(*dense, nn.Linear(hidden_dim or in_dim, top_ch * 16), nn.LeakyReLU(0.2))
        layers: list[nn.Module] = []
        in_ch = top_ch
        for stage in reversed(range(stages)):
            last = stage == 0
            out_ch = channels if last else _stage_width(width, stage - 1, growth)
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


class StagedConvEncoder(nn.Module):
    """Grathwohl & Wilson Table 4 style: per stage a 3x3 stride-1 and a 3x3 stride-2 conv, batch norm, ReLU; then a linear layer."""

    def __init__(self, image_size: int, channels: int, out_dim: int, widths: tuple[int, ...] = (16, 32, 64, 128), hidden_dim: int = 256) -> None:
        super().__init__()
        if image_size % 2 ** len(widths):
            raise ValueError(f"image_size {image_size} is not divisible by 2**{len(widths)} (one halving per stage)")
        layers: list[nn.Module] = []
        in_ch = channels
        for width in widths:
            for stride in (1, 2):
                layers += [nn.Conv2d(in_ch, width, 3, stride=stride, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
                in_ch = width
        side = image_size // 2 ** len(widths)
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(in_ch * side * side, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim))
        self.frame_shape, self.out_dim = (channels, image_size, image_size), out_dim

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        lead = frames.shape[:-3]
        if tuple(frames.shape[-3:]) != self.frame_shape:
            raise ValueError(f"StagedConvEncoder expects frames of shape (..., {', '.join(map(str, self.frame_shape))}), got {tuple(frames.shape)}")
        return self.fc(self.conv(frames.reshape(-1, *self.frame_shape))).reshape(*lead, self.out_dim)


class StagedConvDecoder(nn.Module):
    """Grathwohl & Wilson Table 5 style: two linear layers to a 128-channel map, then per stage a 3x3 stride-1 and a stride-2 transposed conv."""

    def __init__(self, in_dim: int, image_size: int, channels: int, widths: tuple[int, ...] = (128, 64, 32, 16), hidden_dim: int = 256) -> None:
        super().__init__()
        if image_size % 2 ** len(widths):
            raise ValueError(f"image_size {image_size} is not divisible by 2**{len(widths)} (one doubling per stage)")
        self.side, self.top = image_size // 2 ** len(widths), widths[0]
        self.fc = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(),
            nn.Linear(hidden_dim, self.top * self.side**2), nn.BatchNorm1d(self.top * self.side**2), nn.ReLU(),
        )
        layers: list[nn.Module] = []
        in_ch = self.top
        for i, width in enumerate(widths):
            out_ch = channels if i == len(widths) - 1 else widths[i + 1]
            layers += [nn.ConvTranspose2d(in_ch, width, 3, stride=1, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
            layers.append(nn.ConvTranspose2d(width, out_ch, 3, stride=2, padding=1, output_padding=1))
            if i < len(widths) - 1:
                layers += [nn.BatchNorm2d(out_ch), nn.ReLU()]
            in_ch = out_ch
        self.deconv = nn.Sequential(*layers)
        self.in_dim, self.frame_shape = in_dim, (channels, image_size, image_size)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        lead = code.shape[:-1]
        hidden = self.fc(code.reshape(-1, self.in_dim)).reshape(-1, self.top, self.side, self.side)
        return self.deconv(hidden).reshape(*lead, *self.frame_shape)
