"""Small fully connected blocks: an MLP and a Gaussian head producing (loc, scale)."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class MLP(nn.Sequential):
    """Linear layers with LeakyReLU between them (none after the last)."""

    def __init__(self, dims: list[int]) -> None:
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(d_in, d_out))
            if i < len(dims) - 2:
                layers.append(nn.LeakyReLU(0.2))
        super().__init__(*layers)


class GaussianHead(nn.Module):
    """Maps features to the loc and scale (softplus + min_scale) of a diagonal Gaussian."""

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int | None = None, min_scale: float = 1e-4) -> None:
        super().__init__()
        self.body = MLP([in_dim, hidden_dim]) if hidden_dim else nn.Identity()
        feat_dim = hidden_dim or in_dim
        self.loc = nn.Linear(feat_dim, out_dim)
        self.raw_scale = nn.Linear(feat_dim, out_dim)
        self.min_scale = min_scale
        self.activation = nn.LeakyReLU(0.2) if hidden_dim else nn.Identity()

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.activation(self.body(features))
        return self.loc(hidden), F.softplus(self.raw_scale(hidden)) + self.min_scale
