"""Frame likelihoods p(x_t | ...) chosen by config, shared by every model (pixels, or real-valued features)."""
from __future__ import annotations

from dataclasses import dataclass

import pyro.distributions as dist
import torch

LIKELIHOODS = ("normal", "bernoulli", "continuous_bernoulli", "gaussian")


@dataclass(frozen=True)
class Likelihood:
    """Turns decoder outputs (unconstrained, one value per pixel) into a pixel distribution.

    ``normal``: Normal(sigmoid(out), scale) — with scale = 1/sqrt(2) its log-density is minus the
    summed squared error used by the DSA / C-DSVAE codes, up to a constant.
    ``bernoulli``: binary cross-entropy on grey targets (Bernoulli(logits), support check off,
    not a normalised density on [0, 1]).
    ``continuous_bernoulli``: the normalised alternative for grey-level pixels.
    ``gaussian``: Normal(out, scale), identity mean, for unbounded real features such as normalised
    log spectra (DSA §4.2); with scale 1 its log-density is minus half the summed squared error.
    """

    name: str = "normal"
    scale: float = 0.7071

    def __post_init__(self) -> None:
        if self.name not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood '{self.name}'; choose one of {', '.join(LIKELIHOODS)}")
        if self.scale <= 0:
            raise ValueError(f"likelihood scale must be > 0 (got {self.scale})")

    def __call__(self, decoded: torch.Tensor) -> dist.Distribution:
        if self.name == "normal":
            return dist.Normal(torch.sigmoid(decoded), self.scale)
        if self.name == "gaussian":
            return dist.Normal(decoded, self.scale)
        if self.name == "bernoulli":
            return dist.Bernoulli(logits=decoded, validate_args=False)
        return dist.ContinuousBernoulli(logits=decoded)

    def mean(self, decoded: torch.Tensor) -> torch.Tensor:
        """Frame values to show for a decoder output: the output itself for ``gaussian`` (its mean), its sigmoid otherwise."""
        return decoded if self.name == "gaussian" else torch.sigmoid(decoded)
