"""The thin base every guide of the zoo shares: the check that x is given, the registration of its networks with
Pyro, and the per-sequence plate its sites live in (the model's ``sequences`` plate)."""
from __future__ import annotations

import pyro
import torch
from torch import nn


class SequenceGuide(nn.Module):
    """Base of a guide q(latents | x); subclasses set ``name`` (what users type), ``fits`` (model names), ``forward``."""

    name = ""
    fits: tuple[str, ...] = ()

    def sequences(self, x: torch.Tensor | None) -> pyro.plate:
        """The preamble of ``forward``: refuse a missing x, register the networks, return the plate over x's sequences."""
        if x is None:
            raise ValueError(f"guide '{self.name or type(self).__name__}' needs observed sequences x")
        pyro.module("guide", self)
        return pyro.plate("sequences", x.shape[0], device=x.device)
