"""State-space blocks of VDSM (§3.1): the gated transition of eq. (6) and the combiner of eq. (5)."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class GatedTransition(nn.Module):
    """p(z_t | z_{t-1}, d), eq. (6): a sigmoid gate mixes a non-linear and a linear proposal for the mean."""

    def __init__(self, z_dim: int, d_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(z_dim + d_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, z_dim))  # f1, f2
        self.proposal = nn.Sequential(nn.Linear(z_dim + d_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, z_dim))  # f3, f4
        self.linear_mean = nn.Linear(z_dim + d_dim, z_dim)  # f5
        self.scale = nn.Linear(z_dim, z_dim)  # f6

    def forward(self, z_prev: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = torch.cat([z_prev, d], dim=-1)
        gate = torch.sigmoid(self.gate(inputs))
        proposal = self.proposal(inputs)
        loc = gate * proposal + (1 - gate) * self.linear_mean(inputs)
        return loc, F.softplus(self.scale(F.relu(proposal))) + 1e-4


class Combiner(nn.Module):
    """q(z_t | z_{t-1}, h_t, d), eq. (5): c = 0.5 (tanh(f7(z_{t-1})) + [h_t, d]), loc = f8(c), scale = softplus(f9(c))."""

    def __init__(self, z_dim: int, state_dim: int) -> None:
        super().__init__()
        self.from_z = nn.Linear(z_dim, state_dim)  # f7
        self.loc = nn.Linear(state_dim, z_dim)  # f8
        self.scale = nn.Linear(state_dim, z_dim)  # f9

    def forward(self, z_prev: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        combined = 0.5 * (torch.tanh(self.from_z(z_prev)) + state)
        return self.loc(combined), F.softplus(self.scale(combined)) + 1e-4
