"""Inference networks for DSA (Li & Mandt 2018): factorised q (eq. 3) and full q (eq. 4)."""
from __future__ import annotations

from abc import ABC, abstractmethod

import pyro
import pyro.distributions as dist
import torch
from guides.base import SequenceGuide
from torch import nn

from networks import BiLSTM, GaussianHead, frame_encoder


class StaticPosterior(nn.Module):
    """Frame features and q(f | x_1:T): a bi-LSTM over per-frame features (eq. 3 and 4)."""

    def __init__(self, frame_shape: tuple[int, ...], static_dim: int, feature_dim: int, hidden_dim: int, width: int) -> None:
        super().__init__()
        self.encoder = frame_encoder(frame_shape, feature_dim, width)  # conv for (C, H, W) frames, MLP for (D,) frames
        self.rnn = BiLSTM(feature_dim, hidden_dim)
        self.head = GaussianHead(2 * hidden_dim, static_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns per-frame features (B, T, D) and the loc, scale of q(f | x_1:T)."""
        features = self.encoder(x)
        _, summary = self.rnn(features)
        return (features, *self.head(summary))


class DSAGuide(SequenceGuide, ABC):
    """Shared shape of the DSA guides: sample f, then z_1..z_T inside the same sequence plate."""

    fits = ("dsa",)

    def __init__(self, model: nn.Module, feature_dim: int = 256, hidden_dim: int = 256, width: int = 32) -> None:
        super().__init__()
        self.static = StaticPosterior(model.frame_shape, model.static_dim, feature_dim, hidden_dim, width)
        self.dynamics_dim = model.dynamics_dim

    def forward(self, x: torch.Tensor | None = None, batch_size: int | None = None, seq_len: int | None = None) -> None:
        """Sample the latent sites ``f`` and ``z_1 .. z_T`` given x (B, T, *frame_shape)."""
        sequences = self.sequences(x)
        features, f_loc, f_scale = self.static(x)
        with sequences:
            f = pyro.sample("f", dist.Normal(f_loc, f_scale).to_event(1))
            z_loc, z_scale = self.dynamics_posterior(features, f)
            for t in pyro.markov(range(1, x.shape[1] + 1)):
                pyro.sample(f"z_{t}", dist.Normal(z_loc[:, t - 1], z_scale[:, t - 1]).to_event(1))

    @abstractmethod
    def dynamics_posterior(self, features: torch.Tensor, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """loc, scale (B, T, dynamics_dim) of q(z_t | ...)."""


class DSAFactorisedGuide(DSAGuide):
    """Factorised q, eq. (3): q(f | x_1:T) prod_t q(z_t | x_t)."""

    name = "factorised"

    def __init__(self, model: nn.Module, feature_dim: int = 256, hidden_dim: int = 256, width: int = 32) -> None:
        super().__init__(model, feature_dim, hidden_dim, width)
        self.frame_head = GaussianHead(feature_dim, self.dynamics_dim, hidden_dim)

    def dynamics_posterior(self, features: torch.Tensor, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.frame_head(features)


class DSAFullGuide(DSAGuide):
    """Full q, eq. (4): q(f | x_1:T) q(z_1:T | f, x_1:T) via a bi-LSTM conditioned on f, then a forward RNN.

    Deviation (README, "Deviations from the papers"): the RNN reads the bi-LSTM states only, not z_{t-1}, so
    q(z_t | f, x_1:T) is not autoregressive in z; the paper's text does not feed z back either.
    """

    name = "full"

    def __init__(self, model: nn.Module, feature_dim: int = 256, hidden_dim: int = 256, width: int = 32) -> None:
        super().__init__(model, feature_dim, hidden_dim, width)
        self.bi_rnn = BiLSTM(feature_dim + model.static_dim, hidden_dim)
        self.forward_rnn = nn.RNN(2 * hidden_dim, hidden_dim, batch_first=True)
        self.head = GaussianHead(hidden_dim, self.dynamics_dim)

    def dynamics_posterior(self, features: torch.Tensor, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f_per_frame = f.unsqueeze(1).expand(*features.shape[:2], f.shape[-1])
        states, _ = self.bi_rnn(torch.cat([features, f_per_frame], dim=-1))
        hidden, _ = self.forward_rnn(states)
        return self.head(hidden)
