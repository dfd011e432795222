"""C-DSVAE: Contrastively Disentangled Sequential VAE (Bai, Wang & Gomes, NeurIPS 2021), the zoo's first later model.

Generative story: DSA's eq. (1) unchanged (``models/dsa.py``; the paper calls f the static factor s):

    s ~ N(0, I),   z_t | z_<t ~ N(mu(h_t), sigma(h_t)) with an LSTM prior,   x_t | s, z_t ~ likelihood(decoder([s, z_t]))

What C-DSVAE changes is the objective (its §3, as its abstract states): the ELBO **plus** the mutual information
between the input and each latent factor, I_q(x; s) and I_q(x; z_1:T), each estimated contrastively against an
augmented view of the batch, **minus** the mutual information I_q(s; z_t) between the factors:

* content view: the frames of each sequence in a random order (same appearance, motion destroyed); InfoNCE between
  q's mean of s for the sequence and for its content view, against the other sequences of the batch;
* motion view: each sequence's colours changed the same way in every frame (a random permutation of the colour
  channels and a random brightness; same motion, appearance changed); InfoNCE between q's means of z_1:T;
* I_q(s; z_t): minibatch-weighted sampling over the batch (log q(s, z_t) - log q(s) - log q(z_t), clipped at 0,
  averaged over t), the data-set size entering the estimate of the aggregate posterior.

The terms read q, so they are this model's ``terms`` hook (``inference/objective.py``), weighted by the schedules
named ``contrastive_static``, ``contrastive_dynamics`` and ``mi_static_dynamics`` (``conf/experiment/cdsvae_*``:
10, 10 and 1, the weights of the authors' released training script). Sources and departures: the paper's equations
could not be read from this machine (only its abstract), so no equation numbers are cited; the terms follow the
abstract and the facts of the authors' public code (temperature 0.5 on cosine similarities, the weights above, the
clipped minibatch-weighted estimate), reimplemented here. The authors precompute their augmented views per data
set; these are drawn afresh from each batch.
"""
from __future__ import annotations

import math

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.poutine import Trace

from models.dsa import DSA


def content_view(x: torch.Tensor) -> torch.Tensor:
    """Each sequence (B, T, ...) with its frames in a random order: what stays is the content."""
    order = torch.argsort(torch.rand(x.shape[:2], device=x.device), dim=1)
    return torch.gather(x, 1, order.view(*order.shape, *([1] * (x.dim() - 2))).expand_as(x))


def motion_view(x: torch.Tensor) -> torch.Tensor:
    """Each sequence with one random colour change for all its frames (channel permutation, brightness): what stays is the motion."""
    batch, channels = x.shape[0], x.shape[2]
    order = torch.argsort(torch.rand(batch, channels, device=x.device), dim=1)
    permuted = torch.gather(x, 2, order.view(batch, 1, channels, *([1] * (x.dim() - 3))).expand_as(x))
    brightness = torch.empty(batch, device=x.device).uniform_(0.6, 1.0).view(batch, *([1] * (x.dim() - 1)))
    return permuted * brightness


def info_nce(anchors: torch.Tensor, positives: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per-pair InfoNCE loss (B,): cosine similarity / temperature, each pair against the other 2B - 2 vectors, both directions."""
    both = F.normalize(torch.cat([anchors, positives]), dim=-1)
    logits = both @ both.T / temperature
    logits = logits.masked_fill(torch.eye(len(both), dtype=torch.bool, device=both.device), float("-inf"))
    count = anchors.shape[0]
    partner = torch.cat([torch.arange(count, 2 * count), torch.arange(count)]).to(both.device)
    per_vector = -logits.log_softmax(dim=-1)[torch.arange(2 * count, device=both.device), partner]
    return (per_vector[:count] + per_vector[count:]) / 2


def mws_mutual_information(s: torch.Tensor, s_q: dist.Normal, z: torch.Tensor, z_q: dist.Normal, dataset_size: int) -> torch.Tensor:
    """Per-sequence estimate (B,) of I_q(s; z_t), averaged over t, by minibatch-weighted sampling, clipped at 0.

    s (B, S) with q(s | x_j) = s_q (batch B); z (B, T, Z) with q(z_t | x_j) = z_q (B, T, Z).
    log q(a) ~ logsumexp_j log q(a | x_j) - log(B N), for a = s, z_t and (s, z_t).
    """
    batch = s.shape[0]
    log_s = s_q.log_prob(s.unsqueeze(1)).sum(-1)  # (B, B): log q(s_i | x_j)
    log_z = z_q.log_prob(z.unsqueeze(1)).sum(-1)  # (B, B, T): log q(z_ti | x_j)
    norm = math.log(batch * dataset_size)
    joint = torch.logsumexp(log_s.unsqueeze(-1) + log_z, dim=1) - norm  # (B, T)
    marginal_s = torch.logsumexp(log_s, dim=1, keepdim=True) - norm
    marginal_z = torch.logsumexp(log_z, dim=1) - norm
    return F.relu(joint - marginal_s - marginal_z).mean(-1)


class CDSVAE(DSA):
    """C-DSVAE: DSA's generative model (eq. 1 of Li & Mandt) and the contrastive terms of C-DSVAE's objective."""

    name = "cdsvae"
    loss_terms = ("contrastive_static", "contrastive_dynamics", "mi_static_dynamics")
    frame_kinds = ("image",)  # the motion view recolours image frames

    def __init__(self, *args, temperature: float = 0.5, dataset_size: int = 9000, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if temperature <= 0 or dataset_size < 1:
            raise ValueError(f"cdsvae: temperature must be > 0 and dataset_size >= 1, got {temperature}, {dataset_size}")
        self.temperature, self.dataset_size = temperature, dataset_size

    def terms(self, guide, model_trace: Trace, guide_trace: Trace, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The per-sequence objective terms (added to the ELBO): two InfoNCE bounds on I_q(x; .) and -I_q(s; z_t)."""
        s_mean, z_mean = guide.posterior_means(x)
        s_content, _ = guide.posterior_means(content_view(x))
        _, z_motion = guide.posterior_means(motion_view(x))
        s_q, steps = guide_trace.nodes["f"]["fn"].base_dist, range(1, x.shape[1] + 1)
        z_q = dist.Normal(torch.stack([guide_trace.nodes[f"z_{t}"]["fn"].base_dist.loc for t in steps], 1),
                          torch.stack([guide_trace.nodes[f"z_{t}"]["fn"].base_dist.scale for t in steps], 1))
        z = torch.stack([guide_trace.nodes[f"z_{t}"]["value"] for t in steps], 1)
        return {
            "contrastive_static": -info_nce(s_mean, s_content, self.temperature),
            "contrastive_dynamics": -info_nce(z_mean.flatten(1), z_motion.flatten(1), self.temperature),
            "mi_static_dynamics": -mws_mutual_information(guide_trace.nodes["f"]["value"], s_q, z, z_q, self.dataset_size),
        }
