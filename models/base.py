"""The thin base every sequence model of the zoo shares: frame shape, length and likelihood, the standard-normal
prior of its per-sequence latents, and the observation of x over the time and frame axes."""
from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from models.likelihood import Likelihood
from models.shapes import sequence_sizes


class SequenceModel(nn.Module):
    """Base of a model p(x_1:T, latents); subclasses set ``name``, ``latent_groups``, ``latent_layout`` and write ``forward``
    as the story."""

    name = ""
    latent_groups: dict[str, str] = {}
    latent_layout: dict[str, str] = {}  # group -> sequence | steps | frames | frames_last (inference/layout.py)

    def __init__(self, frame_shape: tuple[int, ...], seq_len: int, likelihood: str = "normal", likelihood_scale: float = 0.7071) -> None:
        super().__init__()
        self.frame_shape, self.seq_len = tuple(frame_shape), seq_len
        self.likelihood = Likelihood(likelihood, likelihood_scale)

    def sizes(self, x: torch.Tensor | None, batch_size: int | None, seq_len: int | None) -> tuple[int, int, torch.device]:
        """Batch size, length and device of a call: from x (checked against the frame shape), else the arguments."""
        return sequence_sizes(self, x, batch_size, seq_len)

    @staticmethod
    def standard_normal(batch_size: int, dim: int, device: torch.device) -> dist.Distribution:
        """N(0, I) over ``dim`` features per sequence (event shape (dim,)): the prior of f, s, d, ..."""
        return dist.Normal(torch.zeros(batch_size, dim, device=device), 1.0).to_event(1)

    def observe(self, decoded: torch.Tensor, x: torch.Tensor | None) -> torch.Tensor:
        """x_t ~ likelihood(decoded_t) with time and frame axes as events (so image and vector frames both work)."""
        return pyro.sample("x", self.likelihood(decoded).to_event(1 + len(self.frame_shape)), obs=x)
