"""The ELBO: TraceMeanField takes the analytic KL path, agrees with Trace_ELBO, and annealing scales the KL."""
import math

import pyro.infer.trace_mean_field_elbo as mean_field_module
import pytest
import torch
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO

from inference.anneal import Annealed, SiteGroups
from inference.latents import latent_sites, site_kls, traces
from tests.conftest import FRAME, SEQ_LEN, tiny_guide, tiny_model


@pytest.mark.parametrize("kind", ["factorised", "full"])
def test_mean_field_elbo_uses_analytic_kl_for_every_latent_site(kind, monkeypatch):
    model, x = tiny_model(), torch.rand(2, SEQ_LEN, *FRAME)
    guide = tiny_guide(model, kind)
    calls, real_kl = [], mean_field_module.kl_divergence

    def counting_kl(q, p):
        result = real_kl(q, p)  # raises NotImplementedError -> Pyro would fall back to Monte Carlo
        calls.append((type(q).__name__, type(p).__name__))
        return result

    monkeypatch.setattr(mean_field_module, "kl_divergence", counting_kl)
    TraceMeanField_ELBO().loss(model, guide, x)
    assert len(calls) == 1 + SEQ_LEN  # f and every z_t, none fell back


def test_mean_field_elbo_agrees_with_trace_elbo_in_expectation():
    """Same expectation (the estimators differ only in how the KL is computed), lower variance."""
    model, x = tiny_model(), torch.rand(2, SEQ_LEN, *FRAME)
    guide = tiny_guide(model, "full")
    with torch.no_grad():
        for p in guide.parameters():  # a guide far from the prior makes the KL large and easy to check
            p.add_(torch.randn_like(p) * 0.3)
    n = 300
    analytic = torch.tensor([TraceMeanField_ELBO().loss(model, guide, x) for _ in range(n)])
    sampled = torch.tensor([Trace_ELBO().loss(model, guide, x) for _ in range(n)])
    stderr = math.sqrt(analytic.var() / n + sampled.var() / n)
    assert abs(analytic.mean() - sampled.mean()) < 4 * stderr
    assert analytic.var() < sampled.var()


def test_site_kls_match_monte_carlo():
    model, x = tiny_model(), torch.rand(2, SEQ_LEN, *FRAME)
    guide = tiny_guide(model)
    model_trace, guide_trace = traces(model, guide, x)
    kls = site_kls(model_trace, guide_trace)
    q, p = guide_trace.nodes["f"]["fn"], model_trace.nodes["f"]["fn"]
    samples = q.sample((20000,))
    monte_carlo = (q.log_prob(samples) - p.log_prob(samples)).mean(0)
    assert torch.allclose(kls["f"], monte_carlo, atol=0.05, rtol=0.05)


def _terms(model, guide, x, seed):
    """Reconstruction log-likelihood and KL sums per group for the guide sample drawn under ``seed``."""
    import pyro

    pyro.set_rng_seed(seed)
    with torch.no_grad():
        model_trace, guide_trace = traces(model, guide, x)
        kls = site_kls(model_trace, guide_trace)
    static = kls["f"].sum()
    dynamics = sum(kls[name].sum() for name in latent_sites(guide_trace) if name != "f")
    return model_trace.nodes["x"]["log_prob_sum"], static, dynamics


def test_annealing_scales_each_group_kl_in_model_and_guide():
    import pyro

    model, x = tiny_model(), torch.rand(2, SEQ_LEN, *FRAME)
    guide = tiny_guide(model)
    groups = SiteGroups.of(model)
    weights = torch.tensor([0.25, 3.0])
    pyro.set_rng_seed(7)
    with torch.no_grad():
        loss = TraceMeanField_ELBO().loss(Annealed(model, groups), Annealed(guide, groups), x, weights)
    recon, static, dynamics = _terms(model, guide, x, seed=7)
    assert loss == pytest.approx(float(-recon + 0.25 * static + 3.0 * dynamics), rel=1e-5)


def test_scaling_only_the_model_would_leave_the_kl_unannealed():
    """The fact that forces annealing on both programs (DESIGN-NOTES): the KL takes the guide site's scale."""
    import pyro

    model, x = tiny_model(), torch.rand(2, SEQ_LEN, *FRAME)
    guide = tiny_guide(model)
    groups = SiteGroups.of(model)
    pyro.set_rng_seed(3)
    loss = TraceMeanField_ELBO().loss(Annealed(model, groups), lambda x, w: guide(x), x, torch.tensor([0.1, 0.1]))
    recon, static, dynamics = _terms(model, guide, x, seed=3)
    assert loss == pytest.approx(float(-recon + static + dynamics), rel=1e-5)
