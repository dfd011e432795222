"""Inference networks of Helminger et al. (2018): q(f | x_S) from pairwise comparisons of N frames (App. B, C).

q(f | x_S): a shared conv trunk per frame (App. C "Conv": 4x4 stride-2 convs, leaky ReLU), ConvC on every
pair of frame maps, ConvF on the pair features, then dense layers to (mu_f, sigma_f). The paper concatenates
the three pair features in a fixed order, which makes q(f) depend on frame order; we make it exactly
invariant instead (what an unordered model needs): a pair's feature is ConvC([h_i, h_j]) + ConvC([h_j, h_i])
and the pairs are averaged before ConvF.

``full`` (the paper): q(z_t | f, x_t) from concat(f, h_t). Deviations from App. C (README, "Deviations from the
papers"): GroupNorm after each convolution of the shared trunk, LeakyReLU between the two dense layers of q(z_t). ``factorised``: q(z_t | x_t), without f.
When more frames than ``frames_per_step`` are given (evaluation), q(f) uses that many evenly spaced frames
and q(z_t | ...) covers every frame.
"""
from __future__ import annotations

from itertools import combinations

import pyro
import pyro.distributions as dist
import torch
from guides.base import SequenceGuide
from torch import nn

from networks import MLP, FrameEncoder, GaussianHead


STATIC_POOLINGS = ("flatten", "mean")


class PairwiseStaticEncoder(nn.Module):
    """q(f | x_S): order-invariant pairwise comparisons of N frames (App. B, C)."""

    def __init__(self, frame_shape: tuple[int, int, int], static_dim: int, frames: int, width: int, pair_width: int, hidden_dim: int,
                 pooling: str = "flatten") -> None:
        """``pooling``: how ConvF's 4x4 map reaches the dense layers: ``flatten`` (App. C) or ``mean`` over the map (our
        option: the same features wherever the object is, so q(f) need not learn each appearance at every position)."""
        super().__init__()
        if pooling not in STATIC_POOLINGS:
            raise ValueError(f"unknown static_pooling {pooling!r}; valid: {', '.join(STATIC_POOLINGS)}")
        channels, size, _ = frame_shape
        self.frames = frames
        self.trunk = FrameEncoder(size, channels, hidden_dim, width, growth=False)  # App. C "Conv"
        self.pair = nn.Sequential(nn.Conv2d(2 * width, pair_width, 3, padding=1), nn.ReLU())  # ConvC
        pool = [nn.AdaptiveAvgPool2d(1)] if pooling == "mean" else []
        self.combine = nn.Sequential(nn.Conv2d(pair_width, pair_width, 3, padding=1), nn.ReLU(), *pool, nn.Flatten())  # ConvF
        self.head = GaussianHead(pair_width * (1 if pool else 16), static_dim, hidden_dim)  # dense 512 -> (mu_f, sigma_f)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Frame maps (B, T, width, 4, 4) of all frames and loc, scale of q(f) from the selected ones."""
        maps = self.trunk.feature_map(x)
        chosen = maps[:, select_frames(x.shape[1], self.frames)]
        pairs = [self._pair(chosen[:, i], chosen[:, j]) for i, j in combinations(range(chosen.shape[1]), 2)]
        return (maps, *self.head(self.combine(torch.stack(pairs).mean(0))))

    def _pair(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Symmetric ConvC: the same feature whichever frame comes first."""
        return self.pair(torch.cat([a, b], dim=1)) + self.pair(torch.cat([b, a], dim=1))


def select_frames(available: int, wanted: int) -> list[int]:
    """All frames when there are exactly ``wanted``, else ``wanted`` evenly spaced ones."""
    if available < wanted:
        raise ValueError(f"the pairwise guide needs at least {wanted} frames, got {available}")
    return torch.linspace(0, available - 1, wanted).round().long().tolist()


class UnorderedGuide(SequenceGuide):
    """Shared shape: sample f from the pairwise encoder, then z for every frame."""

    fits = ("unordered",)
    conditions_on_f = True

    def __init__(self, model: nn.Module, feature_dim: int = 512, hidden_dim: int = 512, width: int = 256, static_pooling: str = "flatten") -> None:
        """``width``: filters of the per-frame convs (App. C: 256); ``feature_dim``: of ConvC/ConvF (512); ``hidden_dim``: dense layers (512);
        ``static_pooling``: ``flatten`` ConvF's map into q(f)'s dense layers (App. C) or average it (``mean``, ours)."""
        super().__init__()
        self.static = PairwiseStaticEncoder(model.frame_shape, model.static_dim, model.frames_per_step, width, feature_dim, hidden_dim,
                                            static_pooling)
        z_in = width * 16 + (model.static_dim if self.conditions_on_f else 0)
        self.dynamics_net = nn.Sequential(MLP([z_in, hidden_dim, hidden_dim]), nn.ReLU())  # App. C: 2 dense 512
        self.dynamics_head = GaussianHead(hidden_dim, model.dynamics_dim)

    def forward(self, x: torch.Tensor | None = None, batch_size: int | None = None, seq_len: int | None = None) -> None:
        """Sample ``f`` and ``z`` (B, frames, z_dim) given frames x (B, frames, C, H, W)."""
        sequences = self.sequences(x)
        maps, f_loc, f_scale = self.static(x)
        with sequences:
            f = pyro.sample("f", dist.Normal(f_loc, f_scale).to_event(1))
            inputs = maps.flatten(start_dim=2)
            if self.conditions_on_f:
                inputs = torch.cat([f.unsqueeze(1).expand(*inputs.shape[:2], f.shape[-1]), inputs], dim=-1)
            z_loc, z_scale = self.dynamics_head(self.dynamics_net(inputs))
            pyro.sample("z", dist.Normal(z_loc, z_scale).to_event(2))


class UnorderedFullGuide(UnorderedGuide):
    """The paper's q(f | x_S) prod_t q(z_t | f, x_t)."""

    name = "full"


class UnorderedFactorisedGuide(UnorderedGuide):
    """q(f | x_S) prod_t q(z_t | x_t): the dynamics posterior ignores f."""

    name = "factorised"
    conditions_on_f = False
