"""Grathwohl & Wilson (2016) hierarchical VAE and its two baselines (``papers/grathwohl2016_hierarchical_vae.txt``).

Every frame i has a latent h_i; the models differ only in the prior over the sequence h_1..h_N:

* ``hierarchical_vae`` (ours in the paper): h_i = [h^s_i; h^t_i], p(h) = p(h^s) p(h^t) (eq. 6) with
  h^s_0 ~ N(0, I), h^s_i ~ N(h^s_0, sigma_s^2 I) (eq. 7) and a Gaussian random walk
  h^t_1 ~ N(0, I), h^t_i ~ N(h^t_{i-1}, sigma_t^2 I) (eq. 8);
* ``frame_vae``: h_i ~ N(0, I) independently (the frame-VAE baseline, §4);
* ``slow_vae``: the random walk of eq. 8 on every feature (the slow-feature baseline, §4);

and x_i | h_i ~ Bernoulli(decoder(h_i)) with the decoder of Table 5.

Each prior is written exactly as a MultivariateNormal over the N frames of each feature: integrating h^s_0 out
of eq. 7 gives covariance sigma_s^2 I + 1 1^T (the density of eq. 10), and eq. 8 gives
Cov(h_i, h_j) = 1 + sigma_t^2 (min(i, j) - 1) (the density of eq. 9). With the per-frame Gaussian guide
(eq. 12) ``TraceMeanField_ELBO`` then uses Pyro's registered KL(Independent(Normal) || MultivariateNormal),
which is exactly the analytic KL of eq. 13-18. A site holds one factor: value shape (B, features, frames).
(The quadratic form of eq. 10 matches this covariance; the last factor of the constant C in eq. 11 should read
(2 pi (sigma_s^2 / N + 1))^(-1/2) for the density to normalise — ``tests/test_hierarchical_vae.py`` checks
our KL against eq. 14-18 with that correction.)
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import pyro
import pyro.distributions as dist
import torch

from models.base import SequenceModel
from networks import StagedConvDecoder


def static_covariance(num_frames: int, sigma_s2: float) -> torch.Tensor:
    """Covariance over frames of one static feature, h_0 integrated out of eq. 7: sigma_s^2 I + 1 1^T."""
    return sigma_s2 * torch.eye(num_frames) + torch.ones(num_frames, num_frames)


def random_walk_covariance(num_frames: int, sigma_t2: float) -> torch.Tensor:
    """Covariance over frames of one random-walk feature (eq. 8, 9): 1 + sigma_t^2 (min(i, j) - 1)."""
    index = torch.arange(num_frames)
    return 1.0 + sigma_t2 * torch.minimum(index[:, None], index[None, :]).float()


class FramePriorVAE(SequenceModel, ABC):
    """Shared body: per-frame latent factors with a prior over frames, a per-frame decoder (Table 5), Bernoulli pixels."""

    name = ""
    latent_groups: dict[str, str] = {}
    latent_layout: dict[str, str] = {}

    def __init__(
        self,
        frame_shape: tuple[int, int, int],
        seq_len: int,
        latent_sites: dict[str, int],
        decoder_widths: tuple[int, ...] = (128, 64, 32, 16),
        hidden_dim: int = 256,
        likelihood: str = "bernoulli",
        likelihood_scale: float = 0.7071,
    ) -> None:
        super().__init__(frame_shape, seq_len, likelihood, likelihood_scale)
        if min(latent_sites.values()) < 1:
            raise ValueError(f"{self.name}: every latent factor needs >= 1 feature, got {latent_sites}")
        channels, size, _ = frame_shape
        self.latent_sites = dict(latent_sites)
        self.decoder = StagedConvDecoder(sum(latent_sites.values()), size, channels, tuple(decoder_widths), hidden_dim)

    @abstractmethod
    def prior(self, site: str, num_frames: int, device: torch.device) -> dist.Distribution:
        """p(site) with event shape (features, frames)."""

    def forward(self, x: torch.Tensor | None = None, batch_size: int | None = None, seq_len: int | None = None) -> torch.Tensor:
        """Sample every factor from its prior (eq. 6-8), decode each frame's h_i, observe x (B, T, C, H, W)."""
        pyro.module("model", self)
        batch_size, seq_len, device = self.sizes(x, batch_size, seq_len)
        with pyro.plate("sequences", batch_size, device=device):
            factors = [pyro.sample(site, self.prior(site, seq_len, device)) for site in self.latent_sites]
            h = torch.cat(factors, dim=-2).transpose(-1, -2)  # (B, frames, features): h_i = [h^s_i; h^t_i]
            decoded = self.decoder(h)
            self.observe(decoded, x)
        return self.likelihood.mean(decoded)

def _over_frames(covariance: torch.Tensor, features: int, device: torch.device) -> dist.Distribution:
    """A MultivariateNormal over frames for each of ``features`` independent features: event (features, frames)."""
    scale_tril = torch.linalg.cholesky(covariance).to(device)
    zeros = torch.zeros(covariance.shape[0], device=device)
    return dist.MultivariateNormal(zeros, scale_tril=scale_tril).expand([features]).to_event(1)


class HierarchicalVAE(FramePriorVAE):
    """The paper's model: a static factor with the hierarchical prior (eq. 7) and a random-walk temporal factor (eq. 8)."""

    name = "hierarchical_vae"
    latent_groups = {"static": r"h_static", "dynamics": r"h_temporal"}
    latent_layout = {"static": "frames_last", "dynamics": "frames_last"}  # value (B, features, frames)

    def __init__(self, frame_shape, seq_len, static_dim: int = 2, temporal_dim: int = 2, sigma_s2: float = 0.01, sigma_t2: float = 0.01, **kwargs) -> None:
        super().__init__(frame_shape, seq_len, {"h_static": static_dim, "h_temporal": temporal_dim}, **kwargs)
        if sigma_s2 <= 0 or sigma_t2 <= 0:
            raise ValueError("sigma_s2 and sigma_t2 must be > 0")
        self.sigma_s2, self.sigma_t2 = sigma_s2, sigma_t2

    def prior(self, site: str, num_frames: int, device: torch.device) -> dist.Distribution:
        if site == "h_static":
            return _over_frames(static_covariance(num_frames, self.sigma_s2), self.latent_sites[site], device)
        return _over_frames(random_walk_covariance(num_frames, self.sigma_t2), self.latent_sites[site], device)


class FrameVAE(FramePriorVAE):
    """Baseline: a VAE on individual frames, h_i ~ N(0, I) independently."""

    name = "frame_vae"
    latent_groups = {"latent": r"h"}
    latent_layout = {"latent": "frames_last"}

    def __init__(self, frame_shape, seq_len, latent_dim: int = 4, **kwargs) -> None:
        super().__init__(frame_shape, seq_len, {"h": latent_dim}, **kwargs)

    def prior(self, site: str, num_frames: int, device: torch.device) -> dist.Distribution:
        return dist.Normal(torch.zeros(self.latent_sites[site], num_frames, device=device), 1.0).to_event(2)


class SlowFeatureVAE(FramePriorVAE):
    """Baseline: probabilistic slow-feature analysis, the random walk of eq. 8 on every feature."""

    name = "slow_vae"
    latent_groups = {"latent": r"h"}
    latent_layout = {"latent": "frames_last"}

    def __init__(self, frame_shape, seq_len, latent_dim: int = 4, sigma_t2: float = 0.01, **kwargs) -> None:
        super().__init__(frame_shape, seq_len, {"h": latent_dim}, **kwargs)
        if sigma_t2 <= 0:
            raise ValueError("sigma_t2 must be > 0")
        self.sigma_t2 = sigma_t2

    def prior(self, site: str, num_frames: int, device: torch.device) -> dist.Distribution:
        return _over_frames(random_walk_covariance(num_frames, self.sigma_t2), self.latent_sites[site], device)
