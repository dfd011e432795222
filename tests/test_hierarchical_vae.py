"""Grathwohl & Wilson hierarchical VAE and baselines: sites, the paper's analytic KL (eq. 13-18), prior structure."""
import math

import pyro
import pyro.poutine as poutine
import pyro.infer.trace_mean_field_elbo as mean_field_module
import pytest
import torch
from pyro.infer import TraceMeanField_ELBO

from guides.frame_gaussian import FrameGaussianGuide, SequenceGaussianGuide
from inference.anneal import SiteGroups
from inference.build import check_pair
from inference.latents import latent_sites, site_kls, traces
from models.hierarchical_vae import FrameVAE, HierarchicalVAE, SlowFeatureVAE, random_walk_covariance, static_covariance

FRAME, T, B = (1, 16, 16), 6, 3
SMALL = dict(decoder_widths=(8, 4), hidden_dim=16)


def make(model_cls, guide_cls=FrameGaussianGuide, **kwargs):
    model = model_cls(FRAME, T, **SMALL, **kwargs)
    return model, guide_cls(model, feature_dim=16, hidden_dim=8, width=4)


@pytest.mark.parametrize("model_cls,sites", [(HierarchicalVAE, {"h_static": 2, "h_temporal": 3}), (FrameVAE, {"h": 4}), (SlowFeatureVAE, {"h": 4})])
@pytest.mark.parametrize("guide_cls", [FrameGaussianGuide, SequenceGaussianGuide])
def test_sites_shapes_and_analytic_kl(model_cls, sites, guide_cls, monkeypatch):
    kwargs = {"static_dim": 2, "temporal_dim": 3} if model_cls is HierarchicalVAE else {}
    model, guide = make(model_cls, guide_cls, **kwargs)
    x = torch.rand(B, T, *FRAME)
    check_pair(model, guide, x)
    model_trace, guide_trace = traces(model, guide, x)
    assert list(latent_sites(model_trace)) == list(sites)
    for name, features in sites.items():
        assert model_trace.nodes[name]["value"].shape == (B, features, T)
        assert model_trace.nodes[name]["fn"].event_shape == (features, T)
    calls, real_kl = [], mean_field_module.kl_divergence
    monkeypatch.setattr(mean_field_module, "kl_divergence", lambda q, p: calls.append(1) or real_kl(q, p))
    TraceMeanField_ELBO().loss(model, guide, x)
    assert len(calls) == len(sites)  # every site took the analytic path


def paper_kl(mu: torch.Tensor, var: torch.Tensor, sigma2: float, kind: str) -> torch.Tensor:
    """KL of one feature's per-frame Gaussians (mu, var over N frames) to the paper's prior, written as eq. 13-18."""
    n = mu.shape[-1]
    expected_log_q = -n / 2 * math.log(2 * math.pi) - 0.5 * (1 + var.log()).sum(-1)  # eq. 14
    if kind == "temporal":  # eq. 15
        diff_mu, diff_var = mu[..., 1:] - mu[..., :-1], var[..., 1:] + var[..., :-1]
        expected_log_p = (
            -0.5 * math.log(2 * math.pi) - 0.5 * (mu[..., 0] ** 2 + var[..., 0])
            - (n - 1) / 2 * math.log(2 * math.pi * sigma2) - (diff_mu**2).sum(-1) / (2 * sigma2) - diff_var.sum(-1) / (2 * sigma2)
        )
    else:  # eq. 16-18, with C of eq. 11 using (sigma^2 / N + 1) in its last factor (see models/hierarchical_vae.py)
        mean_sq = (mu**2 + var).sum(-1) / n  # eq. 17
        cross = sum(mu[..., i] * mu[..., i + 1 :].sum(-1) for i in range(n - 1))
        sq_mean = mean_sq / n + 2 / n**2 * cross  # eq. 18
        log_c = (
            -(n - 1) / 2 * math.log(2 * math.pi) + 0.5 * math.log((sigma2 / n) / sigma2**n)
            - 0.5 * math.log(2 * math.pi * (sigma2 / n + 1))
        )
        expected_log_p = -n / (2 * sigma2) * mean_sq - (n / (2 * (sigma2 + n)) - n / (2 * sigma2)) * sq_mean + log_c
    return expected_log_q - expected_log_p  # eq. 13


def test_kl_equals_paper_formula():
    torch.manual_seed(0)
    model, guide = make(HierarchicalVAE, static_dim=2, temporal_dim=3, sigma_s2=0.05, sigma_t2=0.02)
    x = torch.rand(B, T, *FRAME)
    model_trace, guide_trace = traces(model, guide, x)
    kls = site_kls(model_trace, guide_trace)
    for site, kind, sigma2 in (("h_static", "static", 0.05), ("h_temporal", "temporal", 0.02)):
        base = guide_trace.nodes[site]["fn"].base_dist
        expected = paper_kl(base.loc.double(), base.scale.double() ** 2, sigma2, kind).sum(-1)
        assert torch.allclose(kls[site].double(), expected, rtol=1e-4), site


def test_kl_matches_monte_carlo():
    model, guide = make(HierarchicalVAE)
    x = torch.rand(2, T, *FRAME)
    model_trace, guide_trace = traces(model, guide, x)
    for site, kl in site_kls(model_trace, guide_trace).items():
        q, p = guide_trace.nodes[site]["fn"], model_trace.nodes[site]["fn"]
        samples = q.sample((4000,))
        monte_carlo = (q.log_prob(samples) - p.log_prob(samples)).mean(0)
        assert torch.allclose(kl, monte_carlo, rtol=0.05), site


def test_prior_dependence_structure():
    """Random walk: increments have variance sigma_t^2, h_1 variance 1; static: frames scatter sigma_s^2 around a N(0,1) centre."""
    model = HierarchicalVAE(FRAME, 8, static_dim=1, temporal_dim=1, sigma_s2=0.04, sigma_t2=0.09, **SMALL)
    temporal = model.prior("h_temporal", 8, torch.device("cpu")).sample((20000,))[:, 0]
    static = model.prior("h_static", 8, torch.device("cpu")).sample((20000,))[:, 0]
    increments = temporal[:, 1:] - temporal[:, :-1]
    assert increments.var().item() == pytest.approx(0.09, rel=0.05)
    assert temporal[:, 0].var().item() == pytest.approx(1.0, rel=0.05)
    deviation = static - static.mean(-1, keepdim=True)
    assert deviation.pow(2).sum(-1).mean().item() / 7 == pytest.approx(0.04, rel=0.05)  # unbiased within-sequence variance
    assert static.mean(-1).var().item() == pytest.approx(1 + 0.04 / 8, rel=0.05)


def test_covariances():
    assert torch.equal(static_covariance(3, 0.5), torch.tensor([[1.5, 1, 1], [1, 1.5, 1], [1, 1, 1.5]]))
    assert torch.allclose(random_walk_covariance(3, 0.5), torch.tensor([[1.0, 1, 1], [1, 1.5, 1.5], [1, 1.5, 2.0]]))


def test_a_few_svi_steps_lower_the_loss():
    model, guide = make(HierarchicalVAE, guide_cls=SequenceGaussianGuide)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 1e-2}), TraceMeanField_ELBO())
    x = (torch.rand(4, T, *FRAME) > 0.7).float()
    losses = [svi.step(x) for _ in range(30)]
    assert all(math.isfinite(v) for v in losses) and sum(losses[-5:]) < sum(losses[:5])


def test_bad_sizes_are_clear():
    with pytest.raises(ValueError, match="needs >= 1 feature"):
        HierarchicalVAE(FRAME, T, static_dim=0, **SMALL)
    with pytest.raises(ValueError, match="sigma_s2 and sigma_t2"):
        HierarchicalVAE(FRAME, T, sigma_s2=0.0, **SMALL)


def test_static_and_temporal_sites_carry_their_own_priors():
    """h_static gets eq. 7's covariance and h_temporal eq. 8's, in the model's trace: swapped priors are a different model."""
    model = HierarchicalVAE(FRAME, 6, static_dim=2, temporal_dim=3, sigma_s2=0.04, sigma_t2=0.09, **SMALL)
    trace = poutine.trace(model).get_trace(None, batch_size=2, seq_len=6)
    covariance = {name: trace.nodes[name]["fn"].base_dist.covariance_matrix[0] for name in ("h_static", "h_temporal")}
    assert torch.allclose(covariance["h_static"], static_covariance(6, 0.04))
    assert torch.allclose(covariance["h_temporal"], random_walk_covariance(6, 0.09))
    assert trace.nodes["h_static"]["value"].shape == (2, 2, 6) and trace.nodes["h_temporal"]["value"].shape == (2, 3, 6)
    assert SiteGroups.of(model).names[SiteGroups.of(model).index("h_static")] == "static"
    static = trace.nodes["h_static"]["value"]
    assert (static - static.mean(-1, keepdim=True)).abs().max() < 1.0  # nearly constant over frames (sd 0.2)
