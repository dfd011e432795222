"""Inference networks of VDSM (Vowels et al. 2021, eq. 2, 5, §3.1).

All guides share the encoder ENC_{s,z} (a conv trunk and, per frame, an identity and a pose embedding) and the
static layer f_s on the sequence-averaged identity embedding: q(s | x_1:T) (eq. 2). They differ in the poses:

* ``VDSMPretrainGuide`` (stage 1, model ``vdsm_pretrain``): q(z_t | x_t) i.i.d. from the pose embedding (eq. 7);
* ``full`` (stage 2, the paper's): pose embeddings -> bi-LSTM -> last state -> q(d) (f_d); a decoder LSTM started
  from d (a linear map of d gives its initial hidden and cell state) runs over the bi-LSTM states, and the combiner of
  eq. (5) gives q(z_t | z_{t-1}, h_t, d). Deviation (README, "Deviations from the papers"): the paper leaves the
  decoder LSTM's input open; ours reads the encoder's per-step states, so q(z_t) sees x_t directly, not only through d;
* ``factorised`` (stage 2, for comparison): q(d) as above and q(z_t | x_t) per frame, no combiner.

Module names are shared so that stage 2 loads stage 1's ``encoder``, ``static_head`` and ``pose_posterior``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import pyro
import pyro.distributions as dist
import torch
from guides.base import SequenceGuide
from torch import nn

from networks import BiLSTM, Combiner, FrameEncoder, GaussianHead


class VDSMEncoder(nn.Module):
    """ENC_{s,z} (§3.1): conv trunk, then separate fully connected identity and pose embeddings per frame."""

    def __init__(self, frame_shape: tuple[int, int, int], feature_dim: int, embed_dim: int, width: int) -> None:
        super().__init__()
        channels, size, _ = frame_shape
        self.trunk = FrameEncoder(size, channels, feature_dim, width)
        self.identity_head = nn.Sequential(nn.Linear(feature_dim, embed_dim), nn.LeakyReLU(0.2))
        self.pose_head = nn.Sequential(nn.Linear(feature_dim, embed_dim), nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.trunk(x)
        return self.identity_head(features), self.pose_head(features)


class _VDSMGuide(SequenceGuide):
    """Shared part: the encoder and q(s | x_1:T) from the averaged identity embedding (eq. 2)."""

    def __init__(self, model: nn.Module, feature_dim: int = 128, hidden_dim: int = 64, width: int = 32) -> None:
        super().__init__()
        self.encoder = VDSMEncoder(model.frame_shape, feature_dim, hidden_dim, width)
        self.static_head = GaussianHead(hidden_dim, model.static_dim)  # f_s
        self.action_dim, self.dynamics_dim, self.hidden_dim = model.action_dim, model.dynamics_dim, hidden_dim

    def encode(self, x: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pose embeddings (B, T, H) and loc, scale of q(s | x_1:T)."""
        identity, pose = self.encoder(x)
        return (pose, *self.static_head(identity.mean(dim=1)))


class VDSMPretrainGuide(_VDSMGuide):
    """Stage 1: q(s | x_1:T) prod_t q(z_t | x_t) (eq. 7)."""

    name = "factorised"
    fits = ("vdsm_pretrain",)

    def __init__(self, model: nn.Module, feature_dim: int = 128, hidden_dim: int = 64, width: int = 32) -> None:
        super().__init__(model, feature_dim, hidden_dim, width)
        self.pose_posterior = GaussianHead(hidden_dim, model.dynamics_dim)  # q(z_t | x_t) from the pose embedding

    def forward(self, x: torch.Tensor | None = None, batch_size: int | None = None, seq_len: int | None = None) -> None:
        sequences = self.sequences(x)
        pose, s_loc, s_scale = self.encode(x)
        with sequences:
            pyro.sample("s", dist.Normal(s_loc, s_scale).to_event(1))
            pyro.sample("z", dist.Normal(*self.pose_posterior(pose)).to_event(2))


class _VDSMSequenceGuide(_VDSMGuide, ABC):
    """Stage 2: q(s) and q(d | x_1:T) from a bi-LSTM over the pose embeddings (f_d on its final state)."""

    fits = ("vdsm",)

    def __init__(self, model: nn.Module, feature_dim: int = 128, hidden_dim: int = 64, width: int = 32) -> None:
        super().__init__(model, feature_dim, hidden_dim, width)
        self.action_rnn = BiLSTM(hidden_dim, hidden_dim)
        self.action_head = GaussianHead(2 * hidden_dim, model.action_dim, hidden_dim)  # f_d

    def forward(self, x: torch.Tensor | None = None, batch_size: int | None = None, seq_len: int | None = None) -> None:
        sequences = self.sequences(x)
        pose, s_loc, s_scale = self.encode(x)
        states, summary = self.action_rnn(pose)
        with sequences:
            pyro.sample("s", dist.Normal(s_loc, s_scale).to_event(1))
            d = pyro.sample("d", dist.Normal(*self.action_head(summary)).to_event(1))
            self.sample_poses(pose, states, d)

    @abstractmethod
    def sample_poses(self, pose: torch.Tensor, states: torch.Tensor, d: torch.Tensor) -> None:
        """Sample the pose sites z_1 .. z_T given the pose embeddings, bi-LSTM states and d."""


class VDSMFactorisedGuide(_VDSMSequenceGuide):
    """q(s | x) q(d | x) prod_t q(z_t | x_t): poses from single frames."""

    name = "factorised"

    def __init__(self, model: nn.Module, feature_dim: int = 128, hidden_dim: int = 64, width: int = 32) -> None:
        super().__init__(model, feature_dim, hidden_dim, width)
        self.pose_posterior = GaussianHead(hidden_dim, model.dynamics_dim)  # as in stage 1, whose weights it loads

    def sample_poses(self, pose: torch.Tensor, states: torch.Tensor, d: torch.Tensor) -> None:
        loc, scale = self.pose_posterior(pose)
        for t in pyro.markov(range(1, pose.shape[1] + 1)):
            pyro.sample(f"z_{t}", dist.Normal(loc[:, t - 1], scale[:, t - 1]).to_event(1))


class VDSMFullGuide(_VDSMSequenceGuide):
    """The paper's seq2seq guide: decoder LSTM started from d, combiner q(z_t | z_{t-1}, h_t, d) (eq. 2, 5)."""

    name = "full"

    def __init__(self, model: nn.Module, feature_dim: int = 128, hidden_dim: int = 64, width: int = 32) -> None:
        super().__init__(model, feature_dim, hidden_dim, width)
        self.initial_state = nn.Linear(model.action_dim, 2 * hidden_dim)  # d -> (h_0, c_0) of the decoder LSTM
        self.decoder_rnn = nn.LSTM(2 * hidden_dim, hidden_dim, batch_first=True)
        self.combiner = Combiner(model.dynamics_dim, hidden_dim + model.action_dim)

    def sample_poses(self, pose: torch.Tensor, states: torch.Tensor, d: torch.Tensor) -> None:
        h0, c0 = self.initial_state(d).chunk(2, dim=-1)
        hidden, _ = self.decoder_rnn(states, (h0.unsqueeze(0).contiguous(), c0.unsqueeze(0).contiguous()))
        z = torch.zeros(d.shape[0], self.dynamics_dim, device=d.device)
        for t in pyro.markov(range(1, pose.shape[1] + 1)):
            loc, scale = self.combiner(z, torch.cat([hidden[:, t - 1], d], dim=-1))
            z = pyro.sample(f"z_{t}", dist.Normal(loc, scale).to_event(1))
