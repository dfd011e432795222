"""VDSM: sites of both stages, the MoE decoder, s~ and its temperature, the gated transition, staged training with freezing."""
import pyro
import pyro.poutine as poutine
import pytest
import torch
from hydra import compose, initialize_config_dir
from torch.nn import functional as F

from data import DataError
from data.base import ArraySequenceDataset
from data.identity_frames import IdentityFrames, pooled_by_identity
from guides.vdsm import VDSMFactorisedGuide, VDSMFullGuide, VDSMPretrainGuide
from inference.anneal import Annealer
from inference.build import check_pair, freeze
from inference.checkpoint import load_checkpoint
from inference.latents import latent_sites, traces
from inference.trainer import Trainer
from models.vdsm import VDSM, VDSMPretrain
from networks import Combiner, GatedTransition, MoEDecoder
from tests.conftest import MovingSquares
from tests.test_config import CONF, tiny
from train import run

FRAME, T = (1, 16, 16), 4
SIZES = dict(static_dim=4, action_dim=3, dynamics_dim=2, hidden_dim=8, width=4)


def make(model_cls, guide_cls, **overrides):
    model = model_cls(FRAME, T, **{**SIZES, **overrides})
    return model, guide_cls(model, feature_dim=8, hidden_dim=8, width=4)


@pytest.mark.parametrize(
    "model_cls,guide_cls,sites",
    [
        (VDSMPretrain, VDSMPretrainGuide, ["s", "z"]),
        (VDSM, VDSMFactorisedGuide, ["s", "d", "z_1", "z_2", "z_3", "z_4"]),
        (VDSM, VDSMFullGuide, ["s", "d", "z_1", "z_2", "z_3", "z_4"]),
    ],
)
def test_sites_and_shapes(model_cls, guide_cls, sites):
    model, guide = make(model_cls, guide_cls)
    x = torch.rand(3, T, *FRAME)
    check_pair(model, guide, x)
    model_trace, guide_trace = traces(model, guide, x)
    assert list(latent_sites(model_trace)) == sites
    assert model_trace.nodes["s"]["value"].shape == (3, 4)
    if model_cls is VDSM:
        assert model_trace.nodes["d"]["value"].shape == (3, 3) and model_trace.nodes["z_2"]["value"].shape == (3, 2)
    else:
        assert model_trace.nodes["z"]["value"].shape == (3, T, 2)


def test_stage_guides_do_not_mix():
    from inference.errors import ConfigError

    model, _ = make(VDSM, VDSMFullGuide)
    with pytest.raises(ConfigError, match="latent sites differ"):
        check_pair(model, VDSMPretrainGuide(model, feature_dim=8, hidden_dim=8, width=4), torch.rand(2, T, *FRAME))


def test_mixture_sums_to_one_and_sharpens_as_temperature_falls():
    model = VDSM(FRAME, T, temperature=2.0, final_temperature=0.1, temperature_steps=10, **SIZES)
    s = torch.randn(50, 4)
    entropies = []
    for step in (0, 5, 10):
        model.set_step(step)
        mixture = model.mixture(s)
        assert torch.allclose(mixture.sum(-1), torch.ones(50))
        entropies.append(-(mixture * mixture.log()).sum(-1).mean().item())
    assert entropies[0] > entropies[1] > entropies[2]
    assert model.temperature == pytest.approx(0.1)


def reference_expert(decoder: MoEDecoder, expert: int, code: torch.Tensor) -> torch.Tensor:
    """Expert ``expert`` of the bank run on its own, as a plain decoder."""
    hidden = F.leaky_relu(code @ decoder.fc_weight[expert] + decoder.fc_bias[expert], 0.2).reshape(-1, decoder.top_ch, 4, 4)
    for i, (w, b) in enumerate(zip(decoder.weights, decoder.biases)):
        hidden = F.conv_transpose2d(hidden, w[expert], b[expert], stride=2, padding=1)
        if i < len(decoder.weights) - 1:
            hidden = F.leaky_relu(hidden, 0.2)
    return hidden


def test_moe_decoder_blends_weights_per_sequence():
    decoder = MoEDecoder(5, 16, 1, experts=3, width=4)
    code = torch.randn(2, 4, 5)
    one_hot = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    out = decoder(code, one_hot)
    assert out.shape == (2, 4, 1, 16, 16)
    assert torch.allclose(out[0], reference_expert(decoder, 1, code[0]), atol=1e-5)
    assert torch.allclose(out[1], reference_expert(decoder, 2, code[1]), atol=1e-5)
    blended = decoder(code, torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]))
    assert torch.allclose(blended[1], out[1], atol=1e-5)  # a sequence sees only its own mixture
    averaged_outputs = 0.5 * (reference_expert(decoder, 0, code[0]) + reference_expert(decoder, 1, code[0]))
    assert not torch.allclose(blended[0], averaged_outputs, atol=1e-4)  # weights are blended, not outputs


def test_gated_transition_uses_previous_pose_and_action():
    model, _ = make(VDSM, VDSMFullGuide)
    def z2_loc(z1, d):
        trace = poutine.trace(poutine.condition(model, data={"z_1": z1, "d": d})).get_trace(None, batch_size=1)
        return trace.nodes["z_2"]["fn"].base_dist.loc
    base = z2_loc(torch.zeros(1, 2), torch.zeros(1, 3))
    assert not torch.allclose(base, z2_loc(torch.ones(1, 2), torch.zeros(1, 3)))
    assert not torch.allclose(base, z2_loc(torch.zeros(1, 2), torch.ones(1, 3)))


def test_generates_longer_than_training():
    model, _ = make(VDSM, VDSMFullGuide)
    assert model(None, batch_size=2, seq_len=40).shape == (2, 40, *FRAME)


def test_stage_two_freeze_keeps_frozen_parameters_bit_identical(tmp_path):
    model, guide = make(VDSM, VDSMFullGuide)
    frozen = freeze({"model": model, "guide": guide}, ["model.decoder", "guide.encoder.trunk"])
    assert frozen and all(name.startswith(("model.decoder", "guide.encoder.trunk")) for name in frozen)
    before = {**{f"m.{k}": v.clone() for k, v in model.state_dict().items()}, **{f"g.{k}": v.clone() for k, v in guide.state_dict().items()}}
    trainer = Trainer(model, guide, MovingSquares(), pyro.optim.Adam({"lr": 1e-2}), Annealer(list(model.latent_groups), {}), tmp_path,
                      max_steps=3, batch_size=4, progress=False)
    trainer.fit()
    after = {**{f"m.{k}": v for k, v in model.state_dict().items()}, **{f"g.{k}": v for k, v in guide.state_dict().items()}}
    for name, value in before.items():
        is_frozen = name.startswith(("m.decoder", "g.encoder.trunk"))
        assert torch.equal(value, after[name]) == is_frozen or not value.is_floating_point(), name
    with pytest.raises(Exception, match="cannot freeze 'guide.nothing'"):
        freeze({"model": model, "guide": guide}, ["guide.nothing"])


class TaggedFrames(ArraySequenceDataset):
    """Sequences whose frame (s, t) holds the pixels s and t, shown by the identities ``who``."""

    frame_shape, seq_len, pixel_scale, label_keys = (1, 2, 1), 4, 1.0, ("who",)

    def __init__(self, who: list[int]) -> None:
        frames = torch.zeros(len(who), self.seq_len, 2, 1, 1, dtype=torch.uint8)
        frames[:, :, 0, 0, 0] = torch.arange(len(who))[:, None]
        frames[:, :, 1, 0, 0] = torch.arange(self.seq_len)
        super().__init__({"frames": frames.numpy(), "who": torch.tensor(who).numpy()})


def pooled_frames(item: dict) -> list[tuple[int, int]]:
    """The (sequence, frame) pairs an IdentityFrames item drew."""
    return [(int(frame[0, 0, 0]), int(frame[0, 1, 0])) for frame in item["x"]]


def test_identity_frames_pool_every_sequence_of_one_identity_and_repeat_under_the_seed():
    pooled = IdentityFrames(TaggedFrames([0, 0, 0, 1, 1, 2]), "who")
    torch.manual_seed(0)
    draws = [pooled_frames(pooled[1]) for _ in range(30)]
    torch.manual_seed(0)
    assert draws == [pooled_frames(pooled[1]) for _ in range(30)]
    assert all(len(set(d)) == 4 and {s for s, _ in d} <= {0, 1, 2} for d in draws)  # distinct frames of identity 0 only
    assert {s for d in draws for s, _ in d} == {0, 1, 2} and any(len({s for s, _ in d}) > 1 for d in draws)  # pooled
    alone = pooled[5]
    assert sorted(pooled_frames(alone)) == [(5, t) for t in range(4)] and int(alone["who"]) == 2
    assert pooled.seq_len == 4 and len(pooled) == 6
    with pytest.raises(DataError, match="no label 'character'"):
        IdentityFrames(TaggedFrames([0, 1]), "character")


def test_identity_groups_of_a_chosen_size_draw_that_many_frames_of_one_identity():
    data = TaggedFrames([0, 0, 0, 1, 1, 1])
    sizes = dict(static_dim=2, action_dim=2, dynamics_dim=2, hidden_dim=4, width=2)
    for frames in (2, 6, 12):
        pooled = pooled_by_identity(VDSMPretrain((1, 16, 16), 4, pool_identity_frames=True, identity_group_size=frames, **sizes), data, "who")
        draws = [pooled_frames(pooled[4]) for _ in range(20)]
        assert pooled.seq_len == frames and all(len(set(d)) == frames and {s for s, _ in d} <= {3, 4, 5} for d in draws)
    assert {s for s, _ in pooled_frames(pooled[0])} == {0, 1, 2} and len(pooled[0]["x"]) == 12  # all 3 x 4 frames of identity 0
    with pytest.raises(DataError, match="groups of 13 frames, but one who shows only 12"):
        IdentityFrames(data, "who", 13)
    with pytest.raises(DataError, match="at least 2 frames"):
        pooled_by_identity(VDSMPretrain((1, 16, 16), 4, pool_identity_frames=True, identity_group_size=-3, **sizes), data, "who")
    with pytest.raises(ValueError, match="identity_group_size=4"):
        VDSMPretrain((1, 16, 16), 4, identity_group_size=4, **sizes)  # a group size without pooling
    with pytest.raises(ValueError, match="stage 1"):
        VDSM((1, 16, 16), 4, identity_group_size=4, **sizes)


def test_only_stage_one_pools_frames_and_it_needs_the_identity_label():
    data = TaggedFrames([0, 0, 1])
    sizes = dict(static_dim=2, action_dim=2, dynamics_dim=2, hidden_dim=4, width=2)
    pooling = VDSMPretrain((1, 16, 16), 4, pool_identity_frames=True, **sizes)
    assert isinstance(pooled_by_identity(pooling, data, "who"), IdentityFrames)
    assert pooled_by_identity(VDSMPretrain((1, 16, 16), 4, **sizes), data, "who") is data
    with pytest.raises(DataError, match="declares no evaluation.identity"):
        pooled_by_identity(pooling, data, None)
    with pytest.raises(ValueError, match="stage 1"):
        VDSM((1, 16, 16), 4, pool_identity_frames=True, **sizes)


@pytest.mark.parametrize("pool", [False, True])
def test_staged_experiment_runs_both_stages_and_carries_weights(tmp_path, monkeypatch, pool):
    drawn = []
    monkeypatch.setattr(IdentityFrames, "__getitem__", lambda self, i, draw=IdentityFrames.__getitem__: drawn.append(i) or draw(self, i))
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose(config_name="train", overrides=["experiment=vdsm_sprites_cpu", f"cache_dir={tmp_path / 'cache'}", *tiny("vdsm", "sprites_vdsm"),
                                                      "pretrain_steps=2", "trainer.max_steps=2", f"stages.0.model.pool_identity_frames={pool}"])
    run(cfg, tmp_path / "run")
    assert bool(drawn) == pool  # stage 1 trained on frames pooled by character, and only when asked
    pretrain = load_checkpoint(tmp_path / "run" / "pretrain" / "checkpoints" / "checkpoint.pt")
    sequence = load_checkpoint(tmp_path / "run" / "sequence" / "checkpoints" / "checkpoint.pt")
    assert pretrain["step"] == 2 and sequence["step"] == 2
    for key, value in pretrain["model"].items():  # the frozen MoE decoder is stage 1's, bit for bit
        if key.startswith("decoder."):
            assert torch.equal(value, sequence["model"][key]), key
    assert "transition.gate.0.weight" in sequence["model"] and "transition.gate.0.weight" not in pretrain["model"]
    assert not torch.equal(pretrain["guide"]["static_head.loc.weight"], sequence["guide"]["static_head.loc.weight"])  # fine-tuned


def test_gated_transition_is_eq6_gate_between_nonlinear_and_linear_proposals():
    """Eq. 6: loc = g * h + (1 - g) * f5([z, d]); a saturated gate picks one proposal, scale = softplus(f6(ReLU(h)))."""
    transition = GatedTransition(2, 3, 5)
    z, d = torch.randn(4, 2), torch.randn(4, 3)
    inputs = torch.cat([z, d], -1)
    proposal = transition.proposal(inputs)
    with torch.no_grad():
        for bias, expected in ((40.0, proposal), (-40.0, transition.linear_mean(inputs))):
            transition.gate[-1].bias.fill_(bias)
            transition.gate[-1].weight.zero_()
            loc, scale = transition(z, d)
            assert torch.allclose(loc, expected, atol=1e-6)
        transition.gate[-1].bias.fill_(0.0)  # g = 1/2: the mean of the two proposals
        loc, scale = transition(z, d)
        assert torch.allclose(loc, 0.5 * (proposal + transition.linear_mean(inputs)), atol=1e-6)
        assert torch.allclose(scale, torch.nn.functional.softplus(transition.scale(torch.relu(proposal))) + 1e-4)


def test_combiner_is_eq5_half_sum_of_tanh_and_state():
    """Eq. 5: c = 0.5 (tanh(f7(z_{t-1})) + [h_t, d]); loc = f8(c); scale = softplus(f9(c))."""
    combiner = Combiner(2, 6)
    z, state = torch.randn(4, 2), torch.randn(4, 6)
    loc, scale = combiner(z, state)
    c = 0.5 * (torch.tanh(combiner.from_z(z)) + state)
    assert torch.allclose(loc, combiner.loc(c), atol=1e-6)
    assert torch.allclose(scale, torch.nn.functional.softplus(combiner.scale(c)) + 1e-4, atol=1e-6)


@pytest.mark.parametrize("experiment", ["vdsm_sprites", "vdsm_sprites_cpu", "vdsm_sprites_repro"])
def test_sprites_experiments_pretrain_on_frames_grouped_by_character(experiment):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose(config_name="train", overrides=[f"experiment={experiment}"])
    pretrain, sequence = cfg.stages
    assert pretrain.model.pool_identity_frames is True and cfg.data.evaluation.identity == "character"  # §3.2
    assert not sequence.get("model", {}).get("pool_identity_frames", False)
