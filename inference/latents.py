"""Reading latents out of a trained model/guide pair: per-site analytic KL, posterior means, swaps."""
from __future__ import annotations

from collections import defaultdict
from typing import Callable, Iterable

import pyro.poutine as poutine
import torch
from pyro.poutine.messenger import Messenger
from pyro.poutine.util import site_is_subsample
from torch.distributions import kl_divergence

from inference.anneal import SiteGroups
from inference.batch import keyword_args
from inference.objective import term_values


class UseMeans(Messenger):
    """Replaces every unobserved sample by its distribution's mean (deterministic encodings)."""

    def _pyro_sample(self, msg: dict) -> None:
        if not msg["is_observed"] and msg["value"] is None and not site_is_subsample(msg):
            msg["value"] = msg["fn"].mean


def latent_sites(trace: poutine.Trace) -> dict[str, dict]:
    """Unobserved sample sites of a trace (plates' subsample sites excluded)."""
    return {
        name: site
        for name, site in trace.nodes.items()
        if site["type"] == "sample" and not site["is_observed"] and not site_is_subsample(site)
    }


def traces(model: Callable, guide: Callable, x: torch.Tensor, extras: dict | None = None) -> tuple[poutine.Trace, poutine.Trace]:
    """Guide trace and the model trace replayed on the guide's samples, log-probs computed; each program also gets
    the batch keys it takes from ``extras``."""
    guide_trace = poutine.trace(guide).get_trace(x, **keyword_args(guide, extras))
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x, **keyword_args(model, extras))
    model_trace.compute_log_prob()
    return model_trace, guide_trace


def site_kls(model_trace: poutine.Trace, guide_trace: poutine.Trace) -> dict[str, torch.Tensor]:
    """Analytic KL(q || p) per latent site, summed over events, shape (batch,); raises if a pair has none."""
    kls = {}
    for name, site in latent_sites(model_trace).items():
        q, p = guide_trace.nodes[name]["fn"], site["fn"]
        try:
            kls[name] = kl_divergence(q, p)
        except NotImplementedError as err:
            raise TypeError(
                f"no analytic KL registered between the guide's {type(q).__name__} and the model's "
                f"{type(p).__name__} at site '{name}': TraceMeanField_ELBO would silently fall back to Monte Carlo"
            ) from err
    return kls


@torch.no_grad()
def elbo_terms(model: Callable, guide: Callable, x: torch.Tensor, groups: SiteGroups, extras: dict | None = None) -> dict[str, float]:
    """Unannealed per-sequence ELBO, reconstruction log-likelihood, KL per latent group (analytic) and, for a model
    with extra objective terms (``inference/objective.py``), each term ``term_<name>`` and ``objective`` = ELBO + terms."""
    model_trace, guide_trace = traces(model, guide, x, extras)
    per_group: dict[str, float] = defaultdict(float)
    for name, kl in site_kls(model_trace, guide_trace).items():
        index = groups.index(name)
        per_group["kl_" + (groups.names[index] if index is not None else name)] += kl.sum().item() / x.shape[0]
    recon = sum(site["log_prob_sum"].item() for site in model_trace.nodes.values() if site["type"] == "sample" and site["is_observed"])
    terms = {"recon": recon / x.shape[0], **per_group}
    terms["elbo"] = terms["recon"] - sum(v for k, v in per_group.items())
    extra = {f"term_{name}": value.mean().item() for name, value in term_values(model, guide, model_trace, guide_trace, x, extras).items()}
    if extra:
        terms |= {**extra, "objective": terms["elbo"] + sum(extra.values())}
    return terms


@torch.no_grad()
def posterior_means(guide: Callable, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean of every latent site of the guide given x (later sites conditioned on earlier means)."""
    with UseMeans():
        guide_trace = poutine.trace(guide).get_trace(x)
    return {name: site["value"] for name, site in latent_sites(guide_trace).items()}


@torch.no_grad()
def swap(
    model: Callable,
    guide: Callable,
    groups: SiteGroups,
    x_content: torch.Tensor,
    x_motion: torch.Tensor,
    motion_groups: Iterable[str] = ("dynamics",),
) -> torch.Tensor:
    """Decode the static latents of ``x_content`` with the ``motion_groups`` latents of ``x_motion`` (DSA §2, feature swapping)."""
    content, motion = posterior_means(guide, x_content), posterior_means(guide, x_motion)
    motion_groups = set(motion_groups)
    mixed = {
        name: (motion if (idx := groups.index(name)) is not None and groups.names[idx] in motion_groups else content)[name]
        for name in content
    }
    with UseMeans():
        return poutine.condition(model, data=mixed)(None, batch_size=x_content.shape[0], seq_len=x_content.shape[1])


@torch.no_grad()
def reconstruct(model: Callable, guide: Callable, x: torch.Tensor) -> torch.Tensor:
    """Decoded pixel means of x from its posterior-mean latents."""
    with UseMeans():
        return poutine.condition(model, data=posterior_means(guide, x))(None, batch_size=x.shape[0], seq_len=x.shape[1])


def group_latents(groups: SiteGroups, latents: dict[str, torch.Tensor], wanted: Iterable[str]) -> dict[str, torch.Tensor]:
    """The entries of ``latents`` whose site belongs to one of the ``wanted`` groups, in site (time) order."""
    wanted = set(wanted)
    return {name: value for name, value in latents.items() if (i := groups.index(name)) is not None and groups.names[i] in wanted}


def motion_groups(groups: SiteGroups) -> tuple[str, ...]:
    """Every latent group except ``static``: what moves (DSA's dynamics; VDSM's action and dynamics)."""
    return tuple(name for name in groups.names if name != "static")


@torch.no_grad()
def generate_keeping(model: Callable, guide: Callable, groups: SiteGroups, x: torch.Tensor, keep: Iterable[str]) -> torch.Tensor:
    """Decode with the ``keep`` groups' latents encoded from x (posterior means) and every other latent drawn from the prior.

    ``keep=("static",)`` is DSA's "fix f, sample z_1:T from the prior" (§4.1, Table 1);
    ``keep=("dynamics", "action")`` is "fix the motion, sample the content".
    """
    kept = group_latents(groups, posterior_means(guide, x), keep)
    return poutine.condition(model, data=kept)(None, batch_size=x.shape[0], seq_len=x.shape[1])


@torch.no_grad()
def generate_sharing(model: Callable, groups: SiteGroups, share: Iterable[str], count: int, seq_len: int) -> torch.Tensor:
    """``count`` sequences drawn from the prior that share one draw of the ``share`` groups' latents (DSA Fig. 4)."""
    trace = poutine.trace(model).get_trace(None, batch_size=1, seq_len=seq_len)
    shared = group_latents(groups, {name: site["value"] for name, site in latent_sites(trace).items()}, share)
    expanded = {name: value.expand(count, *value.shape[1:]) for name, value in shared.items()}
    return poutine.condition(model, data=expanded)(None, batch_size=count, seq_len=seq_len)
