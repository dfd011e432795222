"""Helminger et al. unordered model: sites, order-invariant q(f), p(z | f) structure, random frame subsets."""
import pyro
import pyro.poutine as poutine
import pytest
import torch

from data.errors import DataError
from data.random_frames import RandomFrames
from guides.unordered import UnorderedFactorisedGuide, UnorderedFullGuide, select_frames
from inference.build import check_pair
from inference.latents import latent_sites, traces
from models.unordered import UnorderedModel
from tests.conftest import MovingSquares

FRAME = (1, 16, 16)


def make(guide_cls=UnorderedFullGuide):
    model = UnorderedModel(FRAME, 3, static_dim=6, dynamics_dim=2, hidden_dim=16, width=8)
    return model, guide_cls(model, feature_dim=8, hidden_dim=16, width=8)


@pytest.mark.parametrize("guide_cls", [UnorderedFullGuide, UnorderedFactorisedGuide])
def test_sites_and_shapes(guide_cls):
    model, guide = make(guide_cls)
    x = torch.rand(4, 3, *FRAME)
    check_pair(model, guide, x)
    model_trace, guide_trace = traces(model, guide, x)
    assert list(latent_sites(model_trace)) == ["f", "z"]
    assert model_trace.nodes["f"]["value"].shape == (4, 6) and model_trace.nodes["z"]["value"].shape == (4, 3, 2)
    assert model_trace.nodes["x"]["fn"].event_shape == (3, *FRAME)


@pytest.mark.parametrize("guide_cls", [UnorderedFullGuide, UnorderedFactorisedGuide])
def test_static_posterior_ignores_frame_order(guide_cls):
    _, guide = make(guide_cls)
    x = torch.rand(5, 3, *FRAME)
    _, loc, scale = guide.static(x)
    for order in ([1, 2, 0], [2, 1, 0], [0, 2, 1]):
        _, loc_perm, scale_perm = guide.static(x[:, order])
        assert torch.allclose(loc, loc_perm, atol=1e-5) and torch.allclose(scale, scale_perm, atol=1e-5)
    _, loc_other, _ = guide.static(torch.rand(5, 3, *FRAME))
    assert not torch.allclose(loc, loc_other)  # it does look at the frames


def test_z_posterior_depends_on_f_only_for_full_guide():
    for guide_cls, depends in ((UnorderedFullGuide, True), (UnorderedFactorisedGuide, False)):
        _, guide = make(guide_cls)
        x = torch.rand(2, 3, *FRAME)
        locs = []
        for f in (torch.zeros(2, 6), torch.ones(2, 6) * 2):
            trace = poutine.trace(poutine.condition(guide, data={"f": f})).get_trace(x)
            locs.append(trace.nodes["z"]["fn"].base_dist.loc)
        assert (not torch.allclose(*locs)) == depends


def test_prior_z_given_f_is_iid_over_frames_and_depends_on_f():
    model, _ = make()
    locs = []
    for f in (torch.zeros(1, 6), torch.ones(1, 6) * 3):
        trace = poutine.trace(poutine.condition(model, data={"f": f})).get_trace(None, batch_size=1, seq_len=5)
        loc = trace.nodes["z"]["fn"].base_dist.loc
        assert loc.shape == (1, 5, 2) and torch.allclose(loc, loc[:, :1].expand_as(loc))  # same p(z | f) for every frame
        locs.append(loc)
    assert not torch.allclose(*locs)


def test_evaluation_on_more_frames_uses_evenly_spaced_ones_for_f():
    model, guide = make()
    assert select_frames(8, 3) == [0, 4, 7] and select_frames(3, 3) == [0, 1, 2]
    model_trace, guide_trace = traces(model, guide, torch.rand(2, 8, *FRAME))
    assert guide_trace.nodes["z"]["value"].shape == (2, 8, 2)
    with pytest.raises(ValueError, match="at least 3 frames"):
        guide(torch.rand(2, 2, *FRAME))


def test_random_frames_are_distinct_repeatable_and_vary():
    squares = MovingSquares(4)
    subset = RandomFrames(squares, 3)
    torch.manual_seed(0)
    first = [subset[0]["frame_index"].tolist() for _ in range(20)]
    torch.manual_seed(0)
    again = [subset[0]["frame_index"].tolist() for _ in range(20)]
    assert first == again and all(len(set(idx)) == 3 for idx in first) and len({tuple(i) for i in first}) > 1
    item = subset[1]
    assert torch.equal(item["x"], squares[1]["x"][item["frame_index"]])
    with pytest.raises(DataError, match="cannot draw 5 frames"):
        RandomFrames(squares, 5)


def test_a_few_steps_lower_the_loss():
    model, guide = make()
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 3e-3}), pyro.infer.TraceMeanField_ELBO())
    x = MovingSquares(8).x[:, :3]
    losses = [svi.step(x) for _ in range(40)]
    assert sum(losses[-5:]) < sum(losses[:5])


def test_random_frames_read_an_uncached_sequence_once():
    """A data set without cached frames is indexed once per drawn item, not once per chosen frame."""

    class CountingSquares(MovingSquares):
        reads = 0

        def __getitem__(self, index):
            CountingSquares.reads += 1
            return super().__getitem__(index)

    squares = CountingSquares(4)
    item = RandomFrames(squares, 3)[2]
    assert CountingSquares.reads == 1
    assert torch.equal(item["x"], MovingSquares(4)[2]["x"][item["frame_index"]])


def test_decoder_hidden_dim_adds_a_dense_layer_before_the_first_map():
    model = UnorderedModel(FRAME, 3, static_dim=6, dynamics_dim=2, hidden_dim=16, width=8, decoder_hidden_dim=12)
    assert model.decoder.fc[0].in_features == 8 and model.decoder.fc[0].out_features == 12  # concat(f, z) -> 12 units
    check_pair(model, UnorderedFullGuide(model, feature_dim=8, hidden_dim=16, width=8), torch.rand(2, 3, *FRAME))
    with pytest.raises(ValueError, match="decoder_hidden_dim >= 0"):
        UnorderedModel(FRAME, 3, decoder_hidden_dim=-1)


def test_static_pooling_mean_averages_convf_map_and_rejects_unknown_names():
    model = UnorderedModel(FRAME, 3, static_dim=6, dynamics_dim=2, hidden_dim=16, width=8)
    pooled = UnorderedFullGuide(model, feature_dim=8, hidden_dim=16, width=8, static_pooling="mean")
    flat = UnorderedFullGuide(model, feature_dim=8, hidden_dim=16, width=8)
    assert pooled.static.head.body[0].in_features == 8 and flat.static.head.body[0].in_features == 8 * 16  # ConvF channels vs the 4x4 map
    check_pair(model, pooled, torch.rand(2, 3, *FRAME))
    with pytest.raises(ValueError, match="unknown static_pooling 'max'"):
        UnorderedFullGuide(model, static_pooling="max")
