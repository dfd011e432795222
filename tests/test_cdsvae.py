"""C-DSVAE, added with new files only: its views, its two InfoNCE terms, its I(s; z) estimate, its guide's means."""
import math

import pyro
import pyro.distributions as dist
import pytest
import torch

from guides import valid_guides
from guides.cdsvae import CDSVAEGuide
from inference.anneal import SiteGroups
from inference.latents import elbo_terms, posterior_means, traces
from models import MODELS
from models import cdsvae
from models.cdsvae import CDSVAE, content_view, info_nce, motion_view, mws_mutual_information

pyro.enable_validation(True)
FRAME, SEQ_LEN = (3, 16, 16), 4


def tiny():
    model = CDSVAE(FRAME, SEQ_LEN, static_dim=4, dynamics_dim=3, hidden_dim=8, width=4, dataset_size=100)
    return model, CDSVAEGuide(model, feature_dim=8, hidden_dim=8, width=4)


def test_registered_by_its_files_alone():
    assert MODELS["cdsvae"] is CDSVAE and valid_guides("cdsvae") == ["full"]


def test_the_content_view_reorders_each_sequences_own_frames():
    x = torch.arange(5 * SEQ_LEN, dtype=torch.float32).view(5, SEQ_LEN, 1, 1, 1).expand(5, SEQ_LEN, *FRAME).clone()
    torch.manual_seed(0)
    view = content_view(x)
    for i in range(5):
        assert sorted(view[i, :, 0, 0, 0].tolist()) == x[i, :, 0, 0, 0].tolist()  # the same frames, nothing from elsewhere
    assert not torch.equal(view, x)


def test_the_motion_view_recolours_every_frame_of_a_sequence_alike():
    x = torch.rand(6, SEQ_LEN, *FRAME)
    torch.manual_seed(1)
    view = motion_view(x)
    for i in range(6):
        matches = [(perm, (view[i] / x[i][:, list(perm)]).flatten()) for perm in [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]]
        ratios = [r for _, r in matches if torch.allclose(r, r[0].expand_as(r), atol=1e-5)]
        assert len(ratios) >= 1 and 0.6 <= float(ratios[0][0]) <= 1.0  # one channel order and one brightness for all frames


def test_info_nce_against_a_direct_computation():
    a, b = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    unit = torch.nn.functional.normalize(torch.cat([a, b]), dim=-1)
    sim = unit @ unit.T / 0.5
    expected = []
    for i, partner in [(0, 2), (1, 3), (2, 0), (3, 1)]:
        others = [k for k in range(4) if k != i]
        expected.append(-(sim[i, partner] - torch.logsumexp(sim[i, others], 0)))
    assert torch.allclose(info_nce(a, b, 0.5), torch.stack([(expected[0] + expected[2]) / 2, (expected[1] + expected[3]) / 2]))
    assert info_nce(a, a, 0.5).mean() < info_nce(a, b.flip(0), 0.5).mean()  # matching pairs score better than mismatched


def test_mutual_information_is_log_n_when_z_ignores_the_sequence_and_log_bn_when_both_identify_it():
    batch, n = 5, 100
    s_loc = torch.arange(batch, dtype=torch.float32).unsqueeze(-1) * 100.0
    s_q = dist.Normal(s_loc, 0.1)
    uninformative = dist.Normal(torch.zeros(batch, SEQ_LEN, 2), 1.0)
    z = torch.randn(batch, SEQ_LEN, 2)
    assert torch.allclose(mws_mutual_information(s_loc, s_q, z, uninformative, n), torch.full((batch,), math.log(n)), atol=1e-4)
    z_loc = s_loc.view(batch, 1, 1).expand(batch, SEQ_LEN, 2).clone()
    identifying = dist.Normal(z_loc, 0.1)
    assert torch.allclose(mws_mutual_information(s_loc, s_q, z_loc, identifying, n), torch.full((batch,), math.log(batch * n)), atol=1e-4)


def test_the_guides_means_are_its_sites_means():
    model, guide = tiny()
    x = torch.rand(3, SEQ_LEN, *FRAME)
    guide.eval()
    s_mean, z_mean = guide.posterior_means(x)
    sites = posterior_means(guide, x)
    assert torch.allclose(s_mean, sites["f"]) and torch.allclose(z_mean, torch.stack([sites[f"z_{t}"] for t in range(1, SEQ_LEN + 1)], 1))


def test_each_term_compares_its_own_latent_on_its_own_view(monkeypatch):
    model, guide = tiny()
    x = torch.rand(4, SEQ_LEN, *FRAME)
    monkeypatch.setattr(cdsvae, "content_view", lambda batch: batch)  # s is compared with itself ...
    monkeypatch.setattr(cdsvae, "motion_view", lambda batch: batch.flip(0))  # ... z with another sequence's
    model_trace, guide_trace = traces(model, guide, x)
    values = model.terms(guide, model_trace, guide_trace, x)
    s_mean, z_mean = guide.posterior_means(x)
    assert torch.allclose(values["contrastive_static"], -info_nce(s_mean, s_mean, 0.5))
    assert torch.allclose(values["contrastive_dynamics"], -info_nce(z_mean.flatten(1), z_mean.flip(0).flatten(1), 0.5))
    assert (values["mi_static_dynamics"] <= 0).all()  # a penalty: minus a clipped estimate


def test_the_logged_terms_are_the_models():
    model, guide = tiny()
    terms = elbo_terms(model, guide, torch.rand(4, SEQ_LEN, *FRAME), SiteGroups.of(model))
    assert {"term_contrastive_static", "term_contrastive_dynamics", "term_mi_static_dynamics", "objective"} <= set(terms)
    assert terms["term_contrastive_static"] <= 0 and terms["objective"] == pytest.approx(
        terms["elbo"] + terms["term_contrastive_static"] + terms["term_contrastive_dynamics"] + terms["term_mi_static_dynamics"], rel=1e-3)
