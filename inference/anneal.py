"""KL annealing as a poutine: scale every latent site of a group, in model AND guide, by that group's weight.

``TraceMeanField_ELBO`` multiplies the analytic KL of a site by the *guide* site's scale, so
scaling only the model would leave the KL unannealed; the trainer wraps both programs.
Weights enter as one tensor argument so a JIT-compiled ELBO does not recompile each step.

A model's extra objective terms (``inference/objective.py``) get weights too: the annealer's groups are the latent
groups, then the term names (``objective_groups``), and ``AnnealScale`` reads the first of those weights only.
"""
from __future__ import annotations

import re
from typing import Callable, Mapping

import torch
from torch import nn
from pyro.poutine.messenger import Messenger

from inference.batch import keyword_args
from inference.schedules import Constant


class SiteGroups:
    """Resolves a sample site's name to the index of the latent group whose regex fully matches it, and carries each
    group's declared latent layout (inference/layout.py) for the code that maps latents to frames."""

    def __init__(self, groups: Mapping[str, str], layouts: Mapping[str, str] | None = None) -> None:
        self.names = list(groups)
        self._patterns = [re.compile(pattern) for pattern in groups.values()]
        self._cache: dict[str, int | None] = {}
        self.layouts = dict(layouts or {})

    @classmethod
    def of(cls, model: object) -> "SiteGroups":
        """The groups and declared layouts of a model (``latent_groups``, ``latent_layout``)."""
        return cls(model.latent_groups, getattr(model, "latent_layout", None))

    def layout(self, group: str) -> str | None:
        """The declared layout of a group (sequence, steps, frames, frames_last), or None when undeclared."""
        return self.layouts.get(group)

    def index(self, site: str) -> int | None:
        """Group index of ``site``, or None when no group claims it."""
        if site not in self._cache:
            hits = [i for i, pattern in enumerate(self._patterns) if pattern.fullmatch(site)]
            if len(hits) > 1:
                raise ValueError(f"site '{site}' matches several latent groups: {[self.names[i] for i in hits]}")
            self._cache[site] = hits[0] if hits else None
        return self._cache[site]


def loss_terms(model: object) -> tuple[str, ...]:
    """The names of the extra objective terms a model declares (``loss_terms``; none by default)."""
    return tuple(getattr(model, "loss_terms", None) or ())


def objective_groups(model: object) -> list[str]:
    """What the trainer anneals and logs, in the order of the weight vector: the latent groups, then the loss terms."""
    terms = loss_terms(model)
    clash = sorted(set(terms) & set(model.latent_groups))
    if clash:
        raise ValueError(f"model '{getattr(model, 'name', type(model).__name__)}' names {clash} both a latent group and a loss term")
    return [*model.latent_groups, *terms]


class AnnealScale(Messenger):
    """Multiplies the scale of each unobserved sample site by its group's weight (a poutine.scale per group)."""

    def __init__(self, groups: SiteGroups, weights: torch.Tensor) -> None:
        super().__init__()
        self.groups, self.weights = groups, weights

    def _process_message(self, msg: dict) -> None:
        if msg["type"] != "sample" or msg["is_observed"]:
            return
        index = self.groups.index(msg["name"])
        if index is not None:
            msg["scale"] = self.weights[index] * msg["scale"]


class Annealed(nn.Module):
    """Wraps a model or guide ``fn(x)`` as ``fn(x, weights, **extras)`` running under :class:`AnnealScale`; a module, so an
    ``ELBOModule`` of two of them (data parallelism) holds the networks' parameters."""

    def __init__(self, fn: Callable, groups: SiteGroups) -> None:
        super().__init__()
        self.fn, self.groups = fn, groups

    def forward(self, x: torch.Tensor, weights: torch.Tensor, **extras):
        """Run ``fn`` on x and the batch keys it takes (``extras``), under the weights."""
        with AnnealScale(self.groups, weights):
            return self.fn(x, **keyword_args(self.fn, extras))


class Annealer:
    """Holds one schedule per latent group and gives the weight vector for a step.

    ``schedules`` maps group names to schedules; the key ``default`` (if given) serves every group
    not named, otherwise unnamed groups keep weight 1. Naming a group the model lacks is an error.
    """

    def __init__(self, group_names: list[str], schedules: Mapping[str, Callable[[int], float]]) -> None:
        unknown = set(schedules) - set(group_names) - {"default"}
        if unknown:
            raise ValueError(f"annealing schedules for unknown latent groups {sorted(unknown)}; the model's groups are {group_names}")
        fallback = schedules.get("default", Constant(1.0))
        self.group_names = group_names
        self.schedules = {name: schedules.get(name, fallback) for name in group_names}

    def weights(self, step: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Tensor of the groups' weights at ``step``, in the order of ``group_names``."""
        return torch.tensor([self.schedules[name](step) for name in self.group_names], device=device)

    def as_dict(self, step: int) -> dict[str, float]:
        """Weights at ``step`` by group name, for logging."""
        return {name: self.schedules[name](step) for name in self.group_names}
