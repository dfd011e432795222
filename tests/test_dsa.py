"""DSA model and guides: site names and shapes, matching sites, the prior's dependence structure."""
import pyro.poutine as poutine
import pytest
import torch

from guides import build_guide, guide_class, valid_guides
from inference.build import check_pair
from inference.errors import ConfigError
from inference.latents import latent_sites, traces
from tests.conftest import FRAME, SEQ_LEN, tiny_guide, tiny_model

B = 3


@pytest.mark.parametrize("kind", ["factorised", "full"])
def test_trace_site_names_and_shapes(kind):
    model = tiny_model()
    guide = tiny_guide(model, kind)
    x = torch.rand(B, SEQ_LEN, *FRAME)
    model_trace, guide_trace = traces(model, guide, x)
    expected = ["f"] + [f"z_{t}" for t in range(1, SEQ_LEN + 1)]
    assert list(latent_sites(guide_trace)) == expected
    assert list(latent_sites(model_trace)) == expected
    for trace in (model_trace, guide_trace):
        assert trace.nodes["f"]["fn"].batch_shape == (B,) and trace.nodes["f"]["fn"].event_shape == (4,)
        for t in range(1, SEQ_LEN + 1):
            assert trace.nodes[f"z_{t}"]["fn"].batch_shape == (B,) and trace.nodes[f"z_{t}"]["fn"].event_shape == (3,)
    obs = model_trace.nodes["x"]
    assert obs["is_observed"] and obs["fn"].batch_shape == (B,) and obs["fn"].event_shape == (SEQ_LEN, *FRAME)
    assert model_trace.nodes["sequences"]["type"] == "sample"  # one plate over the batch
    check_pair(model, guide, x)


def test_guide_registry_lists_valid_guides():
    assert valid_guides("dsa") == ["factorised", "full"]
    with pytest.raises(ConfigError, match="valid guides for dsa: factorised, full"):
        guide_class("dsa", "mean_field_deluxe")
    model = tiny_model()
    assert isinstance(build_guide("full", model, feature_dim=8, hidden_dim=8, width=4), guide_class("dsa", "full"))


def test_mismatched_guide_is_rejected():
    model = tiny_model()
    other = tiny_model(dynamics_dim=5)  # a guide built for a different z size
    with pytest.raises(ConfigError, match="site 'z_1'"):
        check_pair(model, tiny_guide(other), torch.rand(2, SEQ_LEN, *FRAME))


def test_full_guide_dynamics_depend_on_f_factorised_do_not():
    model = tiny_model()
    x = torch.rand(2, SEQ_LEN, *FRAME)
    for kind, depends in (("factorised", False), ("full", True)):
        guide = tiny_guide(model, kind)
        features, _, _ = guide.static(x)
        loc_a, _ = guide.dynamics_posterior(features, torch.zeros(2, 4))
        loc_b, _ = guide.dynamics_posterior(features, torch.ones(2, 4) * 3)
        assert (not torch.allclose(loc_a, loc_b)) == depends, kind


def test_prior_dynamics_are_autoregressive():
    """p(z_2 | z_1) must change when z_1 changes (LSTM prior, eq. 1), and z_1's prior uses z_0 = 0."""
    model = tiny_model()
    locs = []
    for z1 in (torch.zeros(1, 3), torch.ones(1, 3) * 2):
        trace = poutine.trace(poutine.condition(model, data={"z_1": z1})).get_trace(None, batch_size=1)
        locs.append((trace.nodes["z_1"]["fn"].base_dist.loc, trace.nodes["z_2"]["fn"].base_dist.loc))
    assert torch.allclose(locs[0][0], locs[1][0])  # p(z_1) does not see z_1
    assert not torch.allclose(locs[0][1], locs[1][1])


def test_generation_without_data_and_longer_than_training():
    model = tiny_model()
    frames = model(None, batch_size=2, seq_len=SEQ_LEN * 3)
    assert frames.shape == (2, SEQ_LEN * 3, *FRAME)
    assert ((frames >= 0) & (frames <= 1)).all()


def test_bad_input_shape_is_a_clear_error():
    with pytest.raises(ValueError, match="dsa expects x of shape"):
        tiny_model()(torch.rand(2, SEQ_LEN, 3, 16, 16))


@pytest.mark.parametrize("likelihood", ["normal", "bernoulli", "continuous_bernoulli"])
def test_likelihoods_accept_grey_pixels(likelihood):
    model = tiny_model(likelihood=likelihood)
    trace = poutine.trace(model).get_trace(torch.rand(2, SEQ_LEN, *FRAME))
    trace.compute_log_prob()
    assert torch.isfinite(trace.nodes["x"]["log_prob"]).all()


def test_unknown_likelihood_is_rejected():
    with pytest.raises(ValueError, match="unknown likelihood 'laplace'"):
        tiny_model(likelihood="laplace")


def test_generation_protocols_keep_and_share_the_right_latents():
    from inference.anneal import SiteGroups
    from inference.latents import generate_keeping, generate_sharing

    model = tiny_model()
    guide = tiny_guide(model)
    groups = SiteGroups.of(model)
    x = torch.rand(3, SEQ_LEN, *FRAME)
    everything = ("static", "dynamics")
    assert torch.equal(generate_keeping(model, guide, groups, x, everything), generate_keeping(model, guide, groups, x, everything))
    assert not torch.equal(generate_keeping(model, guide, groups, x, ("static",)), generate_keeping(model, guide, groups, x, ("static",)))
    shared_all = generate_sharing(model, groups, everything, count=4, seq_len=6)
    assert shared_all.shape == (4, 6, *FRAME) and torch.allclose(shared_all, shared_all[:1].expand_as(shared_all))
    shared_static = generate_sharing(model, groups, ("static",), count=4, seq_len=6)
    assert not torch.allclose(shared_static, shared_static[:1].expand_as(shared_static))
