"""KL annealing as a poutine: scale every latent site of a group, in model AND guide, by that group's weight.

``TraceMeanField_ELBO`` multiplies the analytic KL of a site by the *guide* site's scale, so
scaling only the model would leave the KL unannealed; the trainer wraps both programs.
Weights enter as one tensor argument so a JIT-compiled ELBO does not recompile each step.

A model may also declare extra objective terms (``loss_terms``: group name -> regex of its own ``pyro.factor``
sites, e.g. a later paper's mutual-information bonus). A model-side factor of value v adds v to the objective the
ELBO maximises (the loss falls by v); each term group is annealed by its own schedule like a latent group.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable, Mapping

import torch
from torch import nn
from pyro.poutine.messenger import Messenger

from inference.batch import keyword_args
from inference.schedules import Constant


class SiteGroups:
    """Resolves a sample site's name to the index of the group whose regex fully matches it; the groups named in
    ``terms`` claim observed ``pyro.factor`` sites (extra objective terms), the others latent sites."""

    def __init__(self, groups: Mapping[str, str], terms: Iterable[str] = ()) -> None:
        self.names = list(groups)
        self.terms = frozenset(terms)
        if not self.terms <= set(self.names):
            raise ValueError(f"loss-term groups {sorted(self.terms - set(self.names))} are not among the groups {self.names}")
        self._patterns = [re.compile(pattern) for pattern in groups.values()]
        self._cache: dict[str, int | None] = {}

    def index(self, site: str) -> int | None:
        """Group index of ``site``, or None when no group claims it."""
        if site not in self._cache:
            hits = [i for i, pattern in enumerate(self._patterns) if pattern.fullmatch(site)]
            if len(hits) > 1:
                raise ValueError(f"site '{site}' matches several latent groups: {[self.names[i] for i in hits]}")
            self._cache[site] = hits[0] if hits else None
        return self._cache[site]

    def term(self, site: str) -> str | None:
        """The loss-term group that claims ``site``, or None."""
        index = self.index(site)
        return self.names[index] if index is not None and self.names[index] in self.terms else None


def loss_terms(model: object) -> dict[str, str]:
    """Extra objective terms a model declares: group name -> regex of its own ``pyro.factor`` sites (none by default)."""
    return dict(getattr(model, "loss_terms", None) or {})


def objective_groups(model: object) -> SiteGroups:
    """What the trainer anneals and logs: the model's latent groups, then its loss-term groups."""
    terms = loss_terms(model)
    clash = sorted(set(terms) & set(model.latent_groups))
    if clash:
        raise ValueError(f"model '{getattr(model, 'name', type(model).__name__)}' names {clash} both a latent group and a loss term")
    return SiteGroups({**model.latent_groups, **terms}, terms=terms)


class AnnealScale(Messenger):
    """Multiplies the scale of each latent site, and of each loss-term factor, by its group's weight (a poutine.scale
    per group); other observed sites (the data) keep their scale."""

    def __init__(self, groups: SiteGroups, weights: torch.Tensor) -> None:
        super().__init__()
        self.groups, self.weights = groups, weights

    def _process_message(self, msg: dict) -> None:
        if msg["type"] != "sample":
            return
        index = self.groups.index(msg["name"])
        if index is not None and msg["is_observed"] == (self.groups.names[index] in self.groups.terms):
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
