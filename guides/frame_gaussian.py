"""Per-frame Gaussian guides for the frame-prior models (Grathwohl & Wilson 2016 and baselines).

``factorised`` is eq. (12): q(h | x) = prod_i N(mu(x_i), sigma^2(x_i)), each frame encoded alone by the
encoder of Table 4. ``full`` conditions every frame's posterior on the whole sequence through a
bi-LSTM over the frame features (the sequence-conditioned guide used to compare against eq. 12).
Both sample each latent factor of the model as one site of shape (B, features, frames).
"""
from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from guides.base import SequenceGuide
from torch import nn

from networks import BiLSTM, GaussianHead, StagedConvEncoder

FRAME_PRIOR_MODELS = ("hierarchical_vae", "frame_vae", "slow_vae")


class FrameGaussianGuide(SequenceGuide):
    """Factorised q, eq. (12): every frame's latent from that frame only.

    ``feature_dim`` is the encoder's linear layer (Table 4: 256), ``width`` its first conv width (16, doubling per
    stage); ``hidden_dim`` sizes the bi-LSTM of the ``full`` guide and is unused here.
    """

    name = "factorised"
    fits = FRAME_PRIOR_MODELS

    def __init__(self, model: nn.Module, feature_dim: int = 256, hidden_dim: int = 128, width: int = 16) -> None:
        super().__init__()
        channels, size, _ = model.frame_shape
        self.latent_sites = dict(model.latent_sites)
        total = sum(self.latent_sites.values())
        self.encoder = StagedConvEncoder(size, channels, feature_dim, tuple(width * 2**k for k in range(4)), hidden_dim=feature_dim)
        self.head = self._make_head(feature_dim, hidden_dim, total)

    def _make_head(self, feature_dim: int, hidden_dim: int, total: int) -> nn.Module:
        return GaussianHead(feature_dim, total)

    def frame_posteriors(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """loc and scale (B, T, features) of q(h_i | ...)."""
        return self.head(self.encoder(x))

    def forward(self, x: torch.Tensor | None = None, batch_size: int | None = None, seq_len: int | None = None) -> None:
        """Sample each factor site, (B, features, frames), from the per-frame Gaussians."""
        sequences = self.sequences(x)
        loc, scale = (t.transpose(-1, -2) for t in self.frame_posteriors(x))  # (B, features, frames)
        with sequences:
            start = 0
            for site, features in self.latent_sites.items():
                block = slice(start, start + features)
                pyro.sample(site, dist.Normal(loc[:, block], scale[:, block]).to_event(2))
                start += features


class _SequenceHead(nn.Module):
    """bi-LSTM over frame features, then a per-frame Gaussian head."""

    def __init__(self, feature_dim: int, hidden_dim: int, total: int) -> None:
        super().__init__()
        self.rnn = BiLSTM(feature_dim, hidden_dim)
        self.head = GaussianHead(2 * hidden_dim, total)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        states, _ = self.rnn(features)
        return self.head(states)


class SequenceGaussianGuide(FrameGaussianGuide):
    """Full q: each frame's posterior sees the whole sequence through a bi-LSTM over the Table 4 frame features."""

    name = "full"

    def _make_head(self, feature_dim: int, hidden_dim: int, total: int) -> nn.Module:
        return _SequenceHead(feature_dim, hidden_dim, total)
