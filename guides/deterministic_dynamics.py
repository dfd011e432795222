"""Inference networks for the deterministic-dynamics baselines LSTM-f / LSTM-c of DSA §4.3 (one global z).

§4.3 gives no encoder; ours mirror DSA's two guides (eq. 3 and 4) with a single z in place of z_1:T:
``factorised`` q(f | x_1:T) q(z | x_1:T), each from its own bi-LSTM over shared frame features;
``full`` q(f | x_1:T) q(z | f, x_1:T), z from a bi-LSTM over [frame features, f].
q(f | x_1:T) is DSA's static posterior (``guides.dsa.StaticPosterior``). Any number of frames works, so the
guide can encode the first t frames of a sequence for the imputation task of §4.3.
"""
from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from guides.base import SequenceGuide
from torch import nn

from guides.dsa import StaticPosterior
from networks import BiLSTM, GaussianHead


class GlobalDynamicsGuide(SequenceGuide):
    """Shared shape: sample ``f`` then ``z`` (both (B, dim)) inside the sequence plate."""

    fits = ("lstm_f", "lstm_c")
    conditions_on_f = False

    def __init__(self, model: nn.Module, feature_dim: int = 256, hidden_dim: int = 256, width: int = 32) -> None:
        super().__init__()
        self.static = StaticPosterior(model.frame_shape, model.static_dim, feature_dim, hidden_dim, width)
        self.dynamics_rnn = BiLSTM(feature_dim + (model.static_dim if self.conditions_on_f else 0), hidden_dim)
        self.dynamics_head = GaussianHead(2 * hidden_dim, model.dynamics_dim)

    def forward(self, x: torch.Tensor | None = None, batch_size: int | None = None, seq_len: int | None = None) -> None:
        """Sample the latent sites ``f`` and ``z`` given x (B, T, C, H, W)."""
        sequences = self.sequences(x)
        features, f_loc, f_scale = self.static(x)
        with sequences:
            f = pyro.sample("f", dist.Normal(f_loc, f_scale).to_event(1))
            z_loc, z_scale = self.dynamics_posterior(features, f)
            pyro.sample("z", dist.Normal(z_loc, z_scale).to_event(1))

    def dynamics_posterior(self, features: torch.Tensor, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """loc, scale (B, dynamics_dim) of q(z | x_1:T) or q(z | f, x_1:T) from a bi-LSTM summary."""
        if self.conditions_on_f:
            features = torch.cat([features, f.unsqueeze(1).expand(*features.shape[:2], f.shape[-1])], dim=-1)
        _, summary = self.dynamics_rnn(features)
        return self.dynamics_head(summary)


class GlobalDynamicsFactorisedGuide(GlobalDynamicsGuide):
    """q(f | x_1:T) q(z | x_1:T): independent, each from a bi-LSTM over the frame features."""

    name = "factorised"


class GlobalDynamicsFullGuide(GlobalDynamicsGuide):
    """q(f | x_1:T) q(z | f, x_1:T): z from a bi-LSTM over [frame features, f]."""

    name = "full"
    conditions_on_f = True
