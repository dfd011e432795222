"""Unordered pairwise model of Helminger et al. (2018) (``papers/helminger2018_unordered.txt`` §2, App. C).

Generative story (§2, "Generative Model"):

    f          ~ N(0, I)                                        static, one per sequence
    z_t | f    ~ N(h_mu(f), diag h_sigma^2(f))   i.i.d. over the frames                dynamics
    x_t | f, z_t ~ Bernoulli(h_x(f, z_t))

The frames are an unordered set: nothing in the model depends on t. Training sees N = 3 frames drawn at
random from each sequence every step (``frames_per_step``; the trainer draws them, see
``data.random_frames``); at evaluation any number of frames can be modelled. Sites: ``f`` (group
``static``) with shape (B, f_dim) and ``z`` (group ``dynamics``) with shape (B, frames, z_dim), the
frames an event dimension because they are i.i.d. given f.
"""
from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from models.base import SequenceModel
from networks import MLP, FrameDecoder, GaussianHead


class UnorderedModel(SequenceModel):
    """p(f) prod_t p(z_t | f) p(x_t | f, z_t) of Helminger et al. §2.

    Deviations from App. C (README, "Deviations from the papers"): the shared FrameDecoder puts GroupNorm after each
    deconvolution and a linear layer before the first one (concat(f, z) -> a 4x4 map); p(z | f)'s two dense layers
    have LeakyReLU between them (App. C: ReLU).
    """

    name = "unordered"
    latent_groups = {"static": r"f", "dynamics": r"z"}
    latent_layout = {"static": "sequence", "dynamics": "frames"}  # z: (B, N, D), one pose per frame of the set

    def __init__(
        self,
        frame_shape: tuple[int, int, int],
        seq_len: int,
        static_dim: int = 64,
        dynamics_dim: int = 2,
        hidden_dim: int = 512,
        width: int = 256,
        frames_per_step: int = 3,
        decoder_hidden_dim: int = 0,
        likelihood: str = "bernoulli",
        likelihood_scale: float = 0.7071,
    ) -> None:
        super().__init__(frame_shape, seq_len, likelihood, likelihood_scale)
        if min(static_dim, dynamics_dim, hidden_dim, width) < 1 or frames_per_step < 2 or decoder_hidden_dim < 0:
            raise ValueError("unordered model: sizes must be >= 1 (decoder_hidden_dim >= 0) and frames_per_step >= 2 (pairs are compared)")
        channels, size, _ = frame_shape
        self.frames_per_step = frames_per_step
        self.static_dim, self.dynamics_dim = static_dim, dynamics_dim
        self.prior_net = nn.Sequential(MLP([static_dim, hidden_dim, hidden_dim]), nn.ReLU())  # App. C: p(z | f), 2 dense 512
        self.prior_head = GaussianHead(hidden_dim, dynamics_dim)
        # App. C: Deconv, 256 filters; concat(f, z) -> first 4x4 map through decoder_hidden_dim dense units first if > 0
        self.decoder = FrameDecoder(static_dim + dynamics_dim, size, channels, width, growth=False, hidden_dim=decoder_hidden_dim)

    def forward(self, x: torch.Tensor | None = None, batch_size: int | None = None, seq_len: int | None = None) -> torch.Tensor:
        """The generative story of §2 for the given frames (B, frames, C, H, W), or ``seq_len`` generated frames."""
        pyro.module("model", self)
        batch_size, frames, device = self.sizes(x, batch_size, seq_len)
        with pyro.plate("sequences", batch_size, device=device):
            f = pyro.sample("f", self.standard_normal(batch_size, self.static_dim, device))
            loc, scale = self.prior_head(self.prior_net(f))
            z = pyro.sample("z", dist.Normal(loc.unsqueeze(1), scale.unsqueeze(1)).expand([batch_size, frames, self.dynamics_dim]).to_event(2))
            decoded = self.decode(f, z)
            self.observe(decoded, x)
        return self.likelihood.mean(decoded)

    def decode(self, f: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """h_x(f, z_t) for every frame: decoder parameters (B, frames, C, H, W)."""
        return self.decoder(torch.cat([f.unsqueeze(1).expand(*z.shape[:2], f.shape[-1]), z], dim=-1))
