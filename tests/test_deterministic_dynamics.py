"""LSTM-f / LSTM-c of DSA §4.3: sites and shapes, analytic KLs, deterministic dynamics driven by one global z."""
import pyro
import pyro.infer.trace_mean_field_elbo as mean_field_module
import pyro.poutine as poutine
import pytest
import torch
from pyro.infer import SVI, TraceMeanField_ELBO
from pyro.optim import ClippedAdam
from torch.utils.data import default_collate

from guides import build_guide, valid_guides
from inference.build import check_pair
from inference.latents import latent_sites, reconstruct, traces
from models.deterministic_dynamics import LSTMC, LSTMF
from tests.conftest import FRAME, SEQ_LEN, MovingSquares

B, F_DIM, Z_DIM, HIDDEN = 3, 4, 5, 8
MODELS = [LSTMF, LSTMC]
PAIRS = [(m, g) for m in MODELS for g in ("factorised", "full")]


def tiny(model_cls, guide: str | None = None, **overrides):
    """A unit-test-sized model, and the named guide for it."""
    sizes = dict(static_dim=F_DIM, dynamics_dim=Z_DIM, hidden_dim=HIDDEN, width=4)
    model = model_cls(FRAME, SEQ_LEN, **{**sizes, **overrides})
    return model, (build_guide(guide, model, feature_dim=8, hidden_dim=8, width=4) if guide else None)


def decode_given(model, f, z, seq_len=SEQ_LEN):
    """Pixel means of the model conditioned on latents f, z."""
    with torch.no_grad():
        return poutine.condition(model, data={"f": f, "z": z})(None, batch_size=f.shape[0], seq_len=seq_len)


def lstm_calls(model, f, z, seq_len=SEQ_LEN):
    """(input, (h, c)) of every call of the model's LSTM cell while decoding f, z."""
    calls = []
    handle = model.rnn.cell.register_forward_pre_hook(lambda _, args: calls.append(args))
    decode_given(model, f, z, seq_len)
    handle.remove()
    return calls


@pytest.mark.parametrize("model_cls,guide_name", PAIRS)
def test_trace_site_names_and_shapes(model_cls, guide_name):
    model, guide = tiny(model_cls, guide_name)
    x = torch.rand(B, SEQ_LEN, *FRAME)
    model_trace, guide_trace = traces(model, guide, x)
    for trace in (model_trace, guide_trace):
        assert list(latent_sites(trace)) == ["f", "z"]
        for name, dim in (("f", F_DIM), ("z", Z_DIM)):
            site = trace.nodes[name]
            assert site["fn"].batch_shape == (B,) and site["fn"].event_shape == (dim,) and site["value"].shape == (B, dim)
            assert [frame.name for frame in site["cond_indep_stack"]] == ["sequences"]
    obs = model_trace.nodes["x"]
    assert obs["is_observed"] and obs["fn"].batch_shape == (B,) and obs["fn"].event_shape == (SEQ_LEN, *FRAME)
    check_pair(model, guide, x)


@pytest.mark.parametrize("model_cls,guide_name", PAIRS)
def test_mean_field_elbo_takes_the_analytic_kl_path(model_cls, guide_name, monkeypatch):
    model, guide = tiny(model_cls, guide_name)
    calls, real_kl = [], mean_field_module.kl_divergence
    monkeypatch.setattr(mean_field_module, "kl_divergence", lambda q, p: calls.append(1) or real_kl(q, p))
    TraceMeanField_ELBO().loss(model, guide, torch.rand(2, SEQ_LEN, *FRAME))
    assert len(calls) == 2  # f and z, neither fell back to Monte Carlo


def test_registry():
    for name in ("lstm_f", "lstm_c"):
        assert valid_guides(name) == ["factorised", "full"]


def test_full_guide_z_depends_on_f_factorised_does_not():
    x = torch.rand(2, SEQ_LEN, *FRAME)
    for guide_name, depends in (("factorised", False), ("full", True)):
        _, guide = tiny(LSTMF, guide_name)
        locs = [
            poutine.trace(poutine.condition(guide, data={"f": f})).get_trace(x).nodes["z"]["fn"].base_dist.loc
            for f in (torch.zeros(2, F_DIM), torch.full((2, F_DIM), 3.0))
        ]
        assert (not torch.allclose(*locs)) == depends, guide_name


@pytest.mark.parametrize("model_cls", MODELS)
def test_dynamics_are_deterministic_given_z(model_cls):
    model, _ = tiny(model_cls)
    f, z = torch.randn(2, F_DIM), torch.randn(2, Z_DIM)
    first, second = decode_given(model, f, z), decode_given(model, f, z)
    assert torch.equal(first, second)  # no noise anywhere between z and the pixel means
    other = decode_given(model, f, torch.randn(2, Z_DIM))
    assert all(not torch.allclose(first[:, t], other[:, t]) for t in range(SEQ_LEN))
    assert not torch.allclose(first[:, 0], first[:, -1])  # the frames move over time


def test_lstm_f_sees_z_only_through_the_initial_state():
    model, _ = tiny(LSTMF)
    f, z = torch.randn(2, F_DIM), torch.randn(2, Z_DIM)
    calls = lstm_calls(model, f, z)
    assert len(calls) == SEQ_LEN and all(inputs.shape == (2, 0) for inputs, _ in calls)  # no input at any step
    h_0, c_0 = calls[0][1]
    assert torch.allclose(torch.cat([h_0, c_0], -1), model.z_to_state(z))  # (h_0, c_0) = Linear(z)
    model.initial_state = lambda _: (h_0, c_0)  # same h_0 for a different z: same trajectory
    assert torch.equal(decode_given(model, f, z), decode_given(model, f, torch.randn(2, Z_DIM)))


def test_lstm_f_with_equal_sizes_starts_from_z_itself():
    model, _ = tiny(LSTMF, hidden_dim=Z_DIM)
    z = torch.randn(2, Z_DIM)
    h_0, c_0 = lstm_calls(model, torch.randn(2, F_DIM), z)[0][1]
    assert model.z_to_state is None and torch.equal(h_0, z) and torch.equal(c_0, torch.zeros_like(z))


def test_lstm_c_receives_z_at_every_step_from_a_zero_state():
    model, _ = tiny(LSTMC)
    z = torch.randn(2, Z_DIM)
    calls = lstm_calls(model, torch.randn(2, F_DIM), z, seq_len=SEQ_LEN + 2)
    assert len(calls) == SEQ_LEN + 2 and all(torch.equal(inputs, z) for inputs, _ in calls)
    h_0, c_0 = calls[0][1]
    assert not h_0.any() and not c_0.any()


@pytest.mark.parametrize("model_cls", MODELS)
def test_generation_and_decoding_beyond_the_observed_frames(model_cls):
    model, guide = tiny(model_cls, "full")
    long = 3 * SEQ_LEN
    generated = model(None, batch_size=2, seq_len=long)
    assert generated.shape == (2, long, *FRAME) and ((generated >= 0) & (generated <= 1)).all()
    x = torch.rand(2, SEQ_LEN, *FRAME)
    trace = poutine.trace(model).get_trace(x, seq_len=long)  # observe SEQ_LEN frames, predict the rest
    assert trace.nodes["x"]["fn"].event_shape == (SEQ_LEN, *FRAME) and trace.nodes["_RETURN"]["value"].shape == (2, long, *FRAME)
    f, z = torch.randn(2, F_DIM), torch.randn(2, Z_DIM)
    assert torch.allclose(decode_given(model, f, z, long)[:, :SEQ_LEN], decode_given(model, f, z))  # a prefix
    assert reconstruct(model, guide, x[:, :2]).shape == (2, 2, *FRAME)  # the guide encodes any number of frames
    with pytest.raises(ValueError, match="shorter than the 4 observed frames"):
        model(x, seq_len=2)


@pytest.mark.parametrize("model_cls,guide_name", [(LSTMF, "factorised"), (LSTMC, "full")])
def test_a_few_svi_steps_lower_the_loss(model_cls, guide_name):
    model, guide = tiny(model_cls, guide_name)
    x = default_collate([MovingSquares()[i] for i in range(8)])["x"]
    svi = SVI(model, guide, ClippedAdam({"lr": 1e-2}), TraceMeanField_ELBO())
    losses = [svi.step(x) for _ in range(40)]
    assert sum(losses[-5:]) < 0.8 * sum(losses[:5])
    pyro.clear_param_store()
