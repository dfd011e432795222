"""Disentangled Sequential Autoencoder (Li & Mandt 2018, ``papers/dsa2018.txt``).

Generative story, eq. (1):

    f            ~ N(0, I)                                   static content, one per sequence
    z_t | z_<t   ~ N(mu(h_t), sigma(h_t)),  h_t = LSTM(z_{t-1}, h_{t-1}),  z_0 = 0
    x_t | z_t, f ~ likelihood(decoder([f, z_t]))             t = 1..T

Sites: ``f`` (group ``static``), ``z_1 .. z_T`` (group ``dynamics``), observed ``x``.
Frames are square images (C, H, W) with conv networks (§4.1, §4.3) or feature vectors (D,), e.g. log
spectra (§4.2), with per-frame MLPs and the ``gaussian`` likelihood.
All sites live in one ``pyro.plate("sequences")``; time is a ``pyro.markov`` loop.
"""
from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch

from models.base import SequenceModel
from networks import GaussianHead, LSTMStep, frame_decoder, frame_kind


class DSA(SequenceModel):
    """DSA generative model p(x_1:T, z_1:T, f); ``forward`` is the generative story."""

    name = "dsa"
    latent_groups = {"static": r"f", "dynamics": r"z_\d+"}
    latent_layout = {"static": "sequence", "dynamics": "steps"}  # f per sequence, z_1 .. z_T per frame
    frame_kinds = ("image", "vector")  # inference.build refuses data whose frames a model cannot take

    def __init__(
        self,
        frame_shape: tuple[int, ...],
        seq_len: int,
        static_dim: int = 256,
        dynamics_dim: int = 32,
        hidden_dim: int = 256,
        width: int = 32,
        decoder_hidden_dim: int = 0,
        likelihood: str = "normal",
        likelihood_scale: float = 0.7071,
    ) -> None:
        super().__init__(frame_shape, seq_len, likelihood, likelihood_scale)
        if min(static_dim, dynamics_dim, hidden_dim, width) < 1 or decoder_hidden_dim < 0:
            raise ValueError("DSA sizes static_dim, dynamics_dim, hidden_dim and width must be >= 1 (decoder_hidden_dim >= 0)")
        kind = frame_kind(frame_shape)
        if kind == "image" and frame_shape[1] != frame_shape[2]:
            raise ValueError(f"DSA expects square image frames, got {tuple(frame_shape)}")
        if kind == "vector" and likelihood != "gaussian":
            raise ValueError(f"DSA on feature-vector frames needs likelihood 'gaussian' (unbounded real features), got '{likelihood}'")
        self.static_dim, self.dynamics_dim = static_dim, dynamics_dim
        self.prior_rnn = LSTMStep(dynamics_dim, hidden_dim)
        self.prior_head = GaussianHead(hidden_dim, dynamics_dim)
        # decoder([f, z_t]) of eq. (1); the paper's text leaves its layers open: decoder_hidden_dim > 0 puts a dense
        # layer before the first map, so f and z_t interact before anything is drawn (0: one linear layer)
        self.decoder = frame_decoder(static_dim + dynamics_dim, self.frame_shape, width, decoder_hidden_dim)

    def forward(self, x: torch.Tensor | None = None, batch_size: int | None = None, seq_len: int | None = None) -> torch.Tensor:
        """Run eq. (1); observes ``x`` (B, T, *frame_shape) when given, else generates. Returns decoded frame means."""
        pyro.module("model", self)
        batch_size, seq_len, device = self.sizes(x, batch_size, seq_len)
        with pyro.plate("sequences", batch_size, device=device):
            f = pyro.sample("f", self.standard_normal(batch_size, self.static_dim, device))
            z = self.sample_dynamics(batch_size, seq_len, device)
            decoded = self.decode(f, z)
            self.observe(decoded, x)
        return self.likelihood.mean(decoded)

    def sample_dynamics(self, batch_size: int, seq_len: int, device: torch.device) -> torch.Tensor:
        """z_t | z_<t from the LSTM prior with z_0 = 0 (eq. 1); returns (B, T, dynamics_dim)."""
        z_prev = torch.zeros(batch_size, self.dynamics_dim, device=device)
        state = self.prior_rnn.initial_state(batch_size, z_prev)
        zs = []
        for t in pyro.markov(range(1, seq_len + 1)):
            state = self.prior_rnn(z_prev, state)
            loc, scale = self.prior_head(state[0])
            z_prev = pyro.sample(f"z_{t}", dist.Normal(loc, scale).to_event(1))
            zs.append(z_prev)
        return torch.stack(zs, dim=1)

    def decode(self, f: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Decoder parameters for every frame from [f, z_t] (f broadcast over time)."""
        f_per_frame = f.unsqueeze(1).expand(*z.shape[:2], f.shape[-1])
        return self.decoder(torch.cat([f_per_frame, z], dim=-1))
