"""Per-frame MLPs for feature-vector frames (e.g. log spectra, DSA §4.2), and factories that pick conv or MLP by frame shape.

A frame of shape (C, H, W) is an image: the conv ``FrameEncoder`` / ``FrameDecoder`` (built with exactly the
arguments the models always used, so image checkpoints keep their state-dict keys). A frame of shape (D,) is a
feature vector: the MLPs below, applied to every frame independently, ``width`` hidden units wide.
"""
from __future__ import annotations

import torch
from torch import nn

from networks.frames import FrameDecoder, FrameEncoder


class VectorFrameEncoder(nn.Module):
    """Maps frames (..., frame_dim) to features (..., out_dim): two hidden LeakyReLU layers, LeakyReLU output like FrameEncoder."""

    def __init__(self, frame_dim: int, out_dim: int, hidden_dim: int = 256) -> None:
        super().__init__()
        if min(frame_dim, out_dim, hidden_dim) < 1:
            raise ValueError(f"VectorFrameEncoder sizes must be >= 1 (frame_dim {frame_dim}, out_dim {out_dim}, hidden_dim {hidden_dim})")
        self.net = nn.Sequential(
            nn.Linear(frame_dim, hidden_dim), nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, hidden_dim), nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, out_dim), nn.LeakyReLU(0.2),
        )
        self.frame_dim, self.out_dim = frame_dim, out_dim

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.shape[-1] != self.frame_dim:
            raise ValueError(f"VectorFrameEncoder expects frames of shape (..., {self.frame_dim}), got {tuple(frames.shape)}")
        return self.net(frames)


class VectorFrameDecoder(nn.Module):
    """Maps codes (..., in_dim) to unconstrained per-feature parameters (..., frame_dim) with two hidden LeakyReLU layers."""

    def __init__(self, in_dim: int, frame_dim: int, hidden_dim: int = 256) -> None:
        super().__init__()
        if min(in_dim, frame_dim, hidden_dim) < 1:
            raise ValueError(f"VectorFrameDecoder sizes must be >= 1 (in_dim {in_dim}, frame_dim {frame_dim}, hidden_dim {hidden_dim})")
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, hidden_dim), nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, frame_dim),
        )
        self.in_dim, self.frame_shape = in_dim, (frame_dim,)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(code)


def frame_kind(frame_shape: tuple[int, ...]) -> str:
    """``"image"`` for (C, H, W) frames, ``"vector"`` for (D,) frames; a one-line error otherwise."""
    if len(frame_shape) == 3:
        return "image"
    if len(frame_shape) == 1:
        return "vector"
    raise ValueError(f"frames must be images (C, H, W) or feature vectors (D,), got shape {tuple(frame_shape)}")


def frame_encoder(frame_shape: tuple[int, ...], out_dim: int, width: int) -> nn.Module:
    """Conv FrameEncoder for square (C, H, W) frames (``width`` = first conv channels), MLP for (D,) frames (``width`` = hidden units)."""
    if frame_kind(frame_shape) == "vector":
        return VectorFrameEncoder(frame_shape[0], out_dim, width)
    channels, size, _ = frame_shape
    return FrameEncoder(size, channels, out_dim, width)


def frame_decoder(in_dim: int, frame_shape: tuple[int, ...], width: int, hidden_dim: int = 0) -> nn.Module:
    """Deconv FrameDecoder for square (C, H, W) frames (``width`` = first conv channels; ``hidden_dim`` > 0 = a dense
    layer before the first map), MLP for (D,) frames (``width`` = hidden units; it has its dense layers already)."""
    if frame_kind(frame_shape) == "vector":
        if hidden_dim:
            raise ValueError(f"a dense decoder layer (hidden_dim {hidden_dim}) applies to image frames; feature-vector frames get an MLP of width {width}")
        return VectorFrameDecoder(in_dim, frame_shape[0], width)
    channels, size, _ = frame_shape
    return FrameDecoder(in_dim, size, channels, width, hidden_dim=hidden_dim)
