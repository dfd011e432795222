"""Pictures of a model at work: test sequences, reconstructions and feature swaps in one grid."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torchvision.utils import save_image

from inference.anneal import SiteGroups
from inference.latents import reconstruct, swap


def _as_rgb(frames: torch.Tensor) -> torch.Tensor:
    """(N, T, C, H, W) -> (N*T, 3, H, W) so grey and colour frames share one grid."""
    flat = frames.reshape(-1, *frames.shape[2:]).clamp(0, 1)
    return flat.expand(-1, 3, -1, -1) if flat.shape[1] == 1 else flat


@torch.no_grad()
def save_reconstruction_and_swap(model: Callable, guide: Callable, groups: SiteGroups, x: torch.Tensor, path: str | Path) -> None:
    """One row per sequence: a, recon(a), b, recon(b), static(a)+dynamics(b), static(b)+dynamics(a); time left to right."""
    half = x.shape[0] // 2
    if half == 0:
        raise ValueError("need at least two sequences to draw a swap")
    a, b = x[:half], x[half : 2 * half]
    rows = [a, reconstruct(model, guide, a), b, reconstruct(model, guide, b), swap(model, guide, groups, a, b), swap(model, guide, groups, b, a)]
    grid = torch.stack(rows, dim=1).reshape(-1, *x.shape[1:])  # sequence-major: a_i, recon a_i, ...
    save_image(_as_rgb(grid.cpu()), str(path), nrow=x.shape[1], padding=1, pad_value=0.5)
