"""The objective: the ELBO (``TraceMeanField_ELBO``) plus the extra terms a model declares, each weighted.

Later papers add terms to the ELBO that read the posterior (C-DSVAE's contrastive mutual-information terms,
S3VAE's self-supervised terms, a beta-TC penalty). A model declares their names, ``loss_terms = ("mi",)``, and
computes them in ``terms(guide, model_trace, guide_trace, x, **extras)`` from the step's two traces (the guide's
distributions and samples, the model's sites), its guide (to encode other views of the batch) and the batch. It
returns one tensor of per-sequence values (B,) per declared name. **Sign**: a value v is *added* to the objective
the ELBO maximises (the loss falls by the weighted v), so a penalty returns ``-penalty``. Each term has a weight
from its own schedule (``conf/anneal``, by its name), logged as ``weight_<name>``; its unweighted value per sequence
is logged as ``term_<name>`` and ``objective`` = ELBO + the terms; ``elbo`` stays the paper's ELBO.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from pyro.infer import TraceMeanField_ELBO
from pyro.poutine import Trace

from inference.anneal import loss_terms
from inference.batch import keyword_args


class TermError(ValueError):
    """A model's ``terms`` returned other names than it declares, or values that are not one per sequence."""


def term_values(model: Any, guide: Callable, model_trace: Trace, guide_trace: Trace, x: torch.Tensor,
                extras: dict[str, Any] | None = None) -> dict[str, torch.Tensor]:
    """The model's extra terms on one batch, checked: exactly the declared names, each of shape (B,), finite."""
    declared = loss_terms(model)
    if not declared:
        return {}
    values = model.terms(guide, model_trace, guide_trace, x, **keyword_args(model, extras))
    name = getattr(model, "name", type(model).__name__)
    if set(values) != set(declared):
        raise TermError(f"model '{name}' declares loss terms {sorted(declared)} but its terms() returned {sorted(values)}")
    for term, value in values.items():
        if not torch.is_tensor(value) or value.shape != x.shape[:1]:
            raise TermError(f"loss term '{term}' of model '{name}' must be one value per sequence, shape ({x.shape[0]},); "
                            f"got {tuple(value.shape) if torch.is_tensor(value) else type(value).__name__}")
    return values


class ELBOWithTerms(TraceMeanField_ELBO):
    """``TraceMeanField_ELBO`` of the annealed programs plus sum_k w_k * sum_b term_k[b], w_k from the weight vector.

    The programs are ``inference.anneal.Annealed`` wrappers called as ``(x, weights, **extras)``; the weights of the
    terms follow those of the ``latent_count`` latent groups (``objective_groups``).
    """

    def __init__(self, model: Any, guide: Callable, latent_count: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model, self.guide, self.latent_count = model, guide, latent_count

    def _differentiable_loss_particle(self, model_trace: Trace, guide_trace: Trace):
        loss, surrogate = super()._differentiable_loss_particle(model_trace, guide_trace)
        inputs = model_trace.nodes["_INPUT"]
        (x, weights), extras = inputs["args"][:2], inputs["kwargs"]
        values = term_values(self.model, self.guide, model_trace, guide_trace, x, extras)
        bonus = sum(weights[self.latent_count + k] * values[name].sum() for k, name in enumerate(loss_terms(self.model)))
        return loss - float(bonus.detach() if torch.is_tensor(bonus) else bonus), surrogate - bonus
