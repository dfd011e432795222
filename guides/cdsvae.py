"""Inference network of C-DSVAE (Bai et al. 2021): DSA's full q (eq. 4 of Li & Mandt), q(s | x_1:T) from a bi-LSTM
over frame features and q(z_1:T | s, x_1:T) from a bi-LSTM and a forward RNN, plus the posterior means of any batch
that the model's contrastive terms read for the augmented views."""
from __future__ import annotations

import torch

from guides.dsa import DSAFullGuide


class CDSVAEGuide(DSAFullGuide):
    """C-DSVAE's q: DSA's full q (its §3 keeps DSA's factorisation of q), shared by the ELBO and the terms."""

    name = "full"
    fits = ("cdsvae",)

    def posterior_means(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Means of q(s | x) (B, S) and of q(z_t | s, x) given that mean (B, T, Z): differentiable, no sample sites."""
        features, s_loc, _ = self.static(x)
        z_loc, _ = self.dynamics_posterior(features, s_loc)
        return s_loc, z_loc
