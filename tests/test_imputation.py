"""Missing-frame imputation of DSA §4.3 (Fig. 7-8): conditioning on a prefix, prior roll-out, the wrong-pixel curve."""
from types import SimpleNamespace

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from evaluation.imputation import (
    imputation_curve,
    imputation_sites,
    impute,
    mark_predicted,
    prefix_latents,
    save_imputation_figure,
)
from evaluation.plugins.imputation import Imputation
from evaluation.plugins.imputation_predictive import PredictiveImputation
from guides.frame_gaussian import FrameGaussianGuide
from guides.unordered import UnorderedFullGuide
from guides.vdsm import VDSMFactorisedGuide, VDSMFullGuide, VDSMPretrainGuide
from inference.anneal import SiteGroups
from inference.latents import posterior_means, reconstruct
from models.deterministic_dynamics import LSTMC, LSTMF
from models.hierarchical_vae import FrameVAE, HierarchicalVAE, SlowFeatureVAE
from models.unordered import UnorderedModel
from models.vdsm import VDSM, VDSMPretrain
from tests.conftest import FRAME, SEQ_LEN, MovingSquares, tiny_guide, tiny_model
from tests.test_deterministic_dynamics import tiny as tiny_lstm

B = 3


def dsa_pair(kind):
    model = tiny_model()
    return model, tiny_guide(model, kind)


def vdsm_pair(guide_cls):
    model = VDSM(FRAME, SEQ_LEN, static_dim=4, action_dim=3, dynamics_dim=2, hidden_dim=8, width=4)
    return model, guide_cls(model, feature_dim=8, hidden_dim=8, width=4)


PAIRS = {
    "dsa-factorised": lambda: dsa_pair("factorised"),
    "dsa-full": lambda: dsa_pair("full"),
    "lstm_f-factorised": lambda: tiny_lstm(LSTMF, "factorised"),
    "lstm_f-full": lambda: tiny_lstm(LSTMF, "full"),
    "lstm_c-factorised": lambda: tiny_lstm(LSTMC, "factorised"),
    "lstm_c-full": lambda: tiny_lstm(LSTMC, "full"),
    "vdsm-factorised": lambda: vdsm_pair(VDSMFactorisedGuide),
    "vdsm-full": lambda: vdsm_pair(VDSMFullGuide),
}


def squares(count=B):
    return MovingSquares(count).x


@pytest.mark.parametrize("pair", PAIRS)
def test_observing_every_frame_is_reconstruction(pair):
    model, guide = PAIRS[pair]()
    x = squares()
    torch.testing.assert_close(impute(model, guide, SiteGroups.of(model), x, SEQ_LEN), reconstruct(model, guide, x), rtol=0, atol=0)


@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize("observed", [1, 2, SEQ_LEN - 1])
def test_imputation_uses_only_the_observed_prefix(pair, observed):
    model, guide = PAIRS[pair]()
    groups, x = SiteGroups.of(model), squares()
    predicted = impute(model, guide, groups, x, observed)
    assert predicted.shape == x.shape and torch.isfinite(predicted).all()
    changed_tail = x.clone()
    changed_tail[:, observed:] = torch.rand_like(x[:, observed:])
    torch.testing.assert_close(impute(model, guide, groups, changed_tail, observed), predicted, rtol=0, atol=0)
    assert not torch.equal(reconstruct(model, guide, changed_tail), reconstruct(model, guide, x))  # the tail matters to a full encoding


def traced_imputation(model, guide, x, observed, sample=False):
    """The model's trace during ``impute`` (its last call is the conditioned full-length run)."""
    tracer = poutine.trace(model)
    impute(tracer, guide, SiteGroups.of(model), x, observed, sample)
    return tracer.trace


@pytest.mark.parametrize("kind", ["factorised", "full"])
def test_dsa_prefix_sites_hold_the_encoded_latents_and_the_prior_reads_them_back(kind):
    model, guide = dsa_pair(kind)
    x, observed = squares(), 2
    encoded = posterior_means(guide, x[:, :observed])
    trace = traced_imputation(model, guide, x, observed)
    for site in ["f"] + [f"z_{t}" for t in range(1, observed + 1)]:
        assert trace.nodes[site]["is_observed"]
        torch.testing.assert_close(trace.nodes[site]["value"], encoded[site], rtol=0, atol=0)
    # the LSTM prior of eq. (1), fed the conditioned z_1..z_t by hand, gives the loc of z_{t+1} in the trace
    z_prev = torch.zeros(B, model.dynamics_dim)
    state = model.prior_rnn.initial_state(B, z_prev)
    for t in range(1, observed + 1):
        state = model.prior_rnn(z_prev, state)
        z_prev = encoded[f"z_{t}"]
    loc, _ = model.prior_head(model.prior_rnn(z_prev, state)[0])
    following = trace.nodes[f"z_{observed + 1}"]
    assert not following["is_observed"]
    torch.testing.assert_close(following["fn"].mean, loc)
    torch.testing.assert_close(following["value"], loc)  # sample=False: the prior mean
    if kind == "full":
        assert not torch.allclose(encoded["z_1"], posterior_means(guide, x)["z_1"])  # the prefix was encoded on its own


def test_dsa_sampling_draws_the_unobserved_steps_only():
    model, guide = dsa_pair("factorised")
    x, observed = squares(), 2
    trace = traced_imputation(model, guide, x, observed, sample=True)
    following = trace.nodes[f"z_{observed + 1}"]
    assert not torch.allclose(following["value"], following["fn"].mean)
    torch.testing.assert_close(trace.nodes["z_1"]["value"], posterior_means(guide, x[:, :observed])["z_1"], rtol=0, atol=0)
    assert not torch.equal(impute(model, guide, SiteGroups.of(model), x, observed, sample=True),
                           impute(model, guide, SiteGroups.of(model), x, observed))


@pytest.mark.parametrize("model_cls", [LSTMF, LSTMC])
def test_lstm_sites_hold_the_prefix_encoding_and_dynamics_are_deterministic(model_cls):
    model, guide = tiny_lstm(model_cls, "full")
    x, observed = squares(), 2
    encoded = posterior_means(guide, x[:, :observed])
    trace = traced_imputation(model, guide, x, observed)
    for site in ("f", "z"):
        assert trace.nodes[site]["is_observed"]
        torch.testing.assert_close(trace.nodes[site]["value"], encoded[site], rtol=0, atol=0)
    assert not torch.allclose(encoded["z"], posterior_means(guide, x)["z"])
    groups = SiteGroups.of(model)
    torch.testing.assert_close(impute(model, guide, groups, x, observed, sample=True), impute(model, guide, groups, x, observed))


def test_sites_are_found_from_the_traces():
    model = tiny_model()
    assert imputation_sites(model, SiteGroups.of(model), SEQ_LEN) == (["f"], ["z"])
    lstm, _ = tiny_lstm(LSTMF)
    assert imputation_sites(lstm, SiteGroups.of(lstm), SEQ_LEN) == (["f", "z"], [])
    vdsm, _ = vdsm_pair(VDSMFullGuide)
    assert imputation_sites(vdsm, SiteGroups.of(vdsm), SEQ_LEN) == (["s", "d"], ["z"])
    guide = tiny_guide(model)
    assert list(prefix_latents(model, guide, SiteGroups.of(model), squares(), 3)) == ["f", "z_1", "z_2", "z_3"]


SMALL_GW = dict(decoder_widths=(8, 4), hidden_dim=16)
UNSUPPORTED = {
    "hierarchical_vae": lambda: FrameGaussianGuide,
    "frame_vae": lambda: FrameGaussianGuide,
    "slow_vae": lambda: FrameGaussianGuide,
    "unordered": lambda: UnorderedFullGuide,
    "vdsm_pretrain": lambda: VDSMPretrainGuide,
}


def unsupported_model(name):
    if name == "unordered":
        return UnorderedModel(FRAME, SEQ_LEN, static_dim=6, dynamics_dim=2, hidden_dim=16, width=8)
    if name == "vdsm_pretrain":
        return VDSMPretrain(FRAME, SEQ_LEN, static_dim=4, action_dim=3, dynamics_dim=2, hidden_dim=8, width=4)
    cls = {"hierarchical_vae": HierarchicalVAE, "frame_vae": FrameVAE, "slow_vae": SlowFeatureVAE}[name]
    return cls(FRAME, SEQ_LEN, **SMALL_GW)


@pytest.mark.parametrize("name", UNSUPPORTED)
def test_models_whose_latents_span_all_frames_are_refused_in_one_line(name):
    model = unsupported_model(name)
    guide = UNSUPPORTED[name]()(model, feature_dim=8, hidden_dim=8, width=4)
    with pytest.raises(ValueError, match=f"cannot impute frames with model '{name}'") as error:
        impute(model, guide, SiteGroups.of(model), squares(), 2)
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match=f"model '{name}'"):
        imputation_curve(model, guide, SiteGroups.of(model), MovingSquares(2), 2, 2, "cpu")


@pytest.mark.parametrize("observed", [0, SEQ_LEN + 1])
def test_observed_count_out_of_range_is_refused(observed):
    model, guide = dsa_pair("factorised")
    with pytest.raises(ValueError, match="observed must be between 1 and T"):
        impute(model, guide, SiteGroups.of(model), squares(), observed)


# --------------------------------------------------------------------------------------------------
# a constructed case with a known curve: a one-pixel ball moving one column per frame along a 1 x W strip

WIDTH, LENGTH, COUNT = 12, 5, 6


def ball_strip(position):
    """Frames (B, T, 1, 1, WIDTH) with a 1 at column round(position) (no pixel if it leaves the strip)."""
    return (torch.arange(WIDTH) == position.round().unsqueeze(-1)).float().unsqueeze(-2).unsqueeze(-2)


class ShiftModel(nn.Module):
    """z_1 ~ N(0, 10), z_t ~ N(z_{t-1} + velocity, step_scale), x_t = a pixel at column z_t: exact dynamics when velocity = 1."""

    name = "shift"
    latent_groups = {"position": r"z_\d+"}

    def __init__(self, velocity, step_scale=0.1):
        super().__init__()
        self.velocity, self.step_scale = velocity, step_scale

    def forward(self, x=None, batch_size=None, seq_len=None):
        batch_size, seq_len = (x.shape[0], x.shape[1]) if x is not None else (batch_size, seq_len)
        with pyro.plate("sequences", batch_size):
            loc, positions = torch.zeros(batch_size), []
            for t in pyro.markov(range(1, seq_len + 1)):
                positions.append(pyro.sample(f"z_{t}", dist.Normal(loc, 10.0 if t == 1 else self.step_scale)))
                loc = positions[-1] + self.velocity
            frames = ball_strip(torch.stack(positions, dim=1))
            pyro.sample("x", dist.Bernoulli(frames.clamp(0.01, 0.99)).to_event(4), obs=x)
        return frames


def shift_guide(x, batch_size=None, seq_len=None):
    """q(z_t | x_t): the column of the ball."""
    column = x[:, :, 0, 0].argmax(dim=-1).float()
    with pyro.plate("sequences", x.shape[0]):
        for t in pyro.markov(range(1, x.shape[1] + 1)):
            pyro.sample(f"z_{t}", dist.Normal(column[:, t - 1], 0.1))


class StripBalls(Dataset):
    """Sequence i: the ball starts at column i and moves one column per frame."""

    def __init__(self):
        self.x = ball_strip(torch.arange(COUNT).float().unsqueeze(1) + torch.arange(LENGTH).float())

    def __len__(self):
        return COUNT

    def __getitem__(self, index):
        return {"x": self.x[index]}


def test_exact_dynamics_give_no_wrong_pixels():
    model = ShiftModel(velocity=1.0)
    curve = imputation_curve(model, shift_guide, SiteGroups.of(model), StripBalls(), COUNT, 4, "cpu", missing=range(LENGTH))
    assert curve == {"all_frames": dict.fromkeys(range(LENGTH), 0.0), "missing_frames": dict.fromkeys(range(1, LENGTH), 0.0)}


def test_a_ball_that_stops_gets_two_pixels_wrong_per_missing_frame():
    model = ShiftModel(velocity=0.0)
    curve = imputation_curve(model, shift_guide, SiteGroups.of(model), StripBalls(), COUNT, 4, "cpu")
    assert list(curve["all_frames"]) == list(range(1, LENGTH))  # default: 1 .. T-1 missing frames
    for n in range(1, LENGTH):
        assert curve["all_frames"][n] == pytest.approx(2 * n / (LENGTH * WIDTH))
        assert curve["missing_frames"][n] == pytest.approx(2 / WIDTH)


def test_the_predictive_marginal_of_an_uncertain_ball_predicts_no_pixel_and_one_roll_out_predicts_a_wrong_one():
    """Prior steps of std 3 columns: one sampled roll-out draws a ball, mostly in the wrong column (2 wrong pixels per
    frame); the mean of 64 roll-outs spreads each pixel's probability below 0.5, an empty frame (1 wrong pixel)."""
    pyro.set_rng_seed(0)
    model = ShiftModel(velocity=1.0, step_scale=3.0)
    groups, dataset, missing = SiteGroups.of(model), StripBalls(), [1, 2]
    predictive = imputation_curve(model, shift_guide, groups, dataset, COUNT, COUNT, "cpu", missing, sample=True, draws=64)
    assert predictive["missing_frames"] == {n: pytest.approx(1 / WIDTH) for n in missing}
    pyro.set_rng_seed(0)  # seeds 0-39 all give 1.25-2 wrong pixels per frame here
    one_draw = imputation_curve(model, shift_guide, groups, dataset, COUNT, COUNT, "cpu", missing, sample=True, draws=1)
    assert one_draw["missing_frames"][2] > 1 / WIDTH  # a drawn ball is mostly in the wrong place: worse than an empty frame
    means = imputation_curve(model, shift_guide, groups, dataset, COUNT, COUNT, "cpu", missing)
    assert means["missing_frames"] == {n: 0.0 for n in missing}  # the prior mean follows the true velocity


def test_the_predictive_plugin_scores_the_mean_of_sampled_roll_outs_and_the_imputation_plugin_the_prior_means():
    model = ShiftModel(velocity=1.0, step_scale=3.0)
    ctx = SimpleNamespace(model=model, guide=shift_guide, groups=SiteGroups.of(model), dataset=StripBalls(), count=COUNT,
                          options=SimpleNamespace(batch_size=COUNT), device="cpu")
    pyro.set_rng_seed(0)
    assert PredictiveImputation().compute(ctx)["missing_frames"][LENGTH - 1] == pytest.approx(1 / WIDTH)  # empty frames
    assert Imputation().compute(ctx)["missing_frames"][LENGTH - 1] == 0.0  # the prior mean follows the true velocity


def test_draws_average_the_sampled_roll_outs_and_must_be_positive():
    """One missing frame, prior step N(1, 3): the mean of many roll-outs puts P(|N(0, 3)| < 0.5) = 0.13 on the true column."""
    model, x = ShiftModel(velocity=1.0, step_scale=3.0), StripBalls().x
    groups = SiteGroups.of(model)
    pyro.set_rng_seed(0)
    single = impute(model, shift_guide, groups, x, LENGTH - 1, sample=True)
    assert set(single.unique().tolist()) == {0.0, 1.0}  # one roll-out: a ball somewhere
    averaged = impute(model, shift_guide, groups, x, LENGTH - 1, sample=True, draws=4000)
    true_column = x[:, -1].flatten(1).argmax(dim=1)
    on_target = averaged[:, -1].flatten(1)[torch.arange(COUNT), true_column]
    assert on_target == pytest.approx(torch.full((COUNT,), 0.1324), abs=0.025)
    torch.testing.assert_close(averaged[:, :-1], x[:, :-1])  # observed frames: every draw keeps the encoded positions
    with pytest.raises(ValueError, match="draws must be at least 1"):
        impute(model, shift_guide, groups, x, 2, sample=True, draws=0)
    with pytest.raises(ValueError, match="more than 1 only with sample=True"):
        impute(model, shift_guide, groups, x, 2, draws=4)  # the prior means have one roll-out: draws would be ignored


def test_roll_outs_in_one_batch_refuse_a_latent_whose_first_dimension_is_not_the_sequence(monkeypatch):
    model, x = ShiftModel(velocity=1.0), StripBalls().x
    transposed = {"z_1": torch.zeros(1, COUNT)}  # (features, sequences): repeating along dim 0 would mix the draws
    monkeypatch.setattr("evaluation.imputation.prefix_latents", lambda *args: transposed)
    with pytest.raises(ValueError, match="a latent's first dimension is not the sequence"):
        impute(model, shift_guide, SiteGroups.of(model), x, 1, sample=True, draws=2)


def test_curve_refuses_missing_counts_that_leave_nothing_observed():
    model = ShiftModel(velocity=1.0)
    with pytest.raises(ValueError, match="missing frame counts"):
        imputation_curve(model, shift_guide, SiteGroups.of(model), StripBalls(), COUNT, 4, "cpu", missing=[LENGTH])


@pytest.mark.parametrize("pair", ["dsa-full", "lstm_c-factorised"])
def test_curve_runs_on_real_models(pair):
    model, guide = PAIRS[pair]()
    curve = imputation_curve(model, guide, SiteGroups.of(model), MovingSquares(5), 5, 2, "cpu")
    assert list(curve["all_frames"]) == list(curve["missing_frames"]) == list(range(1, SEQ_LEN))
    assert all(0 <= value <= 1 for part in curve.values() for value in part.values())


def test_figure_marks_predicted_frames_green(tmp_path):
    frames = torch.ones(4, 1, 2, 2)
    marked = mark_predicted(frames, observed=3)
    assert marked.shape == (4, 3, 2, 2)
    assert torch.equal(marked[:3], torch.ones(3, 3, 2, 2))
    assert torch.equal(marked[3, :, 0, 0], torch.tensor([0.0, 1.0, 0.0]))
    model, guide = dsa_pair("factorised")
    path = tmp_path / "imputation.png"
    save_imputation_figure(model, guide, SiteGroups.of(model), squares(), [1, 3], path, sequences=2)
    assert path.stat().st_size > 0
