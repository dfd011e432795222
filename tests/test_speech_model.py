"""DSA on feature-vector frames (spoken digits, DSA §4.2): networks, likelihood, sites, training, build checks, Table 2 EER."""
import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from hydra import compose, initialize_config_dir
from pyro.infer import SVI, TraceMeanField_ELBO
from torch import nn
from torch.utils.data import Dataset, default_collate

from data.fsdd import SpokenDigitsDataset
from data.speech_trials import trials_for_dataset
from evaluation.speech import dsa_table2
from guides.dsa import DSAFactorisedGuide, DSAFullGuide
from inference.anneal import SiteGroups
from inference.build import build_model_and_guide, check_pair, preview_batch
from inference.errors import ConfigError
from inference.latents import latent_sites, traces
from models.dsa import DSA
from models.likelihood import Likelihood
from networks import FrameDecoder, FrameEncoder, VectorFrameDecoder, VectorFrameEncoder, frame_decoder, frame_encoder
from tests.test_config import CONF

D, T, B = 12, 5, 3
GUIDES = {"factorised": DSAFactorisedGuide, "full": DSAFullGuide}


def vector_model(frame_dim: int = D, seq_len: int = T) -> DSA:
    return DSA((frame_dim,), seq_len, static_dim=4, dynamics_dim=3, hidden_dim=8, width=16, likelihood="gaussian", likelihood_scale=1.0)


def vector_guide(model: DSA, kind: str) -> nn.Module:
    return GUIDES[kind](model, feature_dim=8, hidden_dim=8, width=16)


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> dict[str, SpokenDigitsDataset]:
    """The smallest spoken-digits subset: take 5 trains, take 0 tests (60 recordings each, 6 speakers x 10 digits)."""
    cache = tmp_path_factory.mktemp("cache")
    return {split: SpokenDigitsDataset(split, takes=[0, 5], cache_dir=cache) for split in ("train", "test")}


# ----- networks and likelihood -----


def test_vector_networks_map_every_frame_and_reject_bad_width():
    encoder, decoder = VectorFrameEncoder(D, 7, 16), VectorFrameDecoder(5, D, 16)
    assert encoder(torch.randn(B, T, D)).shape == (B, T, 7)
    assert decoder(torch.randn(B, T, 5)).shape == (B, T, D)
    frame = torch.randn(1, D)  # per frame: a frame's code does not depend on its neighbours
    batch = torch.cat([frame, torch.randn(4, D)])
    assert torch.allclose(encoder(batch)[0], encoder(frame)[0], atol=1e-6)
    with pytest.raises(ValueError, match=r"\(\.\.\., 12\)"):
        encoder(torch.randn(B, T, D + 1))


def test_factories_pick_conv_for_images_and_mlp_for_vectors():
    assert isinstance(frame_encoder((1, 16, 16), 8, 4), FrameEncoder)
    assert isinstance(frame_decoder(8, (1, 16, 16), 4), FrameDecoder)
    assert isinstance(frame_encoder((129,), 8, 32), VectorFrameEncoder)
    assert isinstance(frame_decoder(8, (129,), 32), VectorFrameDecoder)
    assert frame_decoder(8, (129,), 32).net[0].out_features == 32  # width = hidden units for vector frames
    with pytest.raises(ValueError, match="images .* or feature vectors"):
        frame_encoder((4, 4), 8, 4)


def test_dsa_decoder_hidden_layer_sits_between_the_codes_and_the_first_map():
    deep = DSA((1, 16, 16), 4, static_dim=4, dynamics_dim=3, hidden_dim=8, width=4, decoder_hidden_dim=9)
    assert [tuple(p.shape) for p in deep.decoder.fc.parameters()] == [(9, 4 + 3), (9,), (128, 9), (128,)]  # [f, z_t] -> 9 -> 8 ch x 4 x 4
    assert deep(batch_size=2).shape == (2, 4, 1, 16, 16)
    with pytest.raises(ValueError, match="decoder_hidden_dim >= 0"):
        DSA((1, 16, 16), 4, decoder_hidden_dim=-1)
    with pytest.raises(ValueError, match="applies to image frames"):
        DSA((12,), 4, static_dim=4, dynamics_dim=3, hidden_dim=8, width=4, likelihood="gaussian", decoder_hidden_dim=9)


def test_gaussian_likelihood_has_identity_mean_and_fixed_scale():
    decoded = torch.tensor([-3.0, 0.0, 2.5])
    likelihood = Likelihood("gaussian", 1.0)
    assert torch.equal(likelihood.mean(decoded), decoded)
    distribution = likelihood(decoded)
    assert torch.equal(distribution.mean, decoded) and torch.allclose(distribution.stddev, torch.ones(3))
    x = torch.tensor([-1.0, 0.5, 2.0])  # log N(x; d, 1) = -1/2 (x - d)^2 - 1/2 log 2 pi
    expected = -0.5 * (x - decoded) ** 2 - 0.5 * np.log(2 * np.pi)
    assert torch.allclose(distribution.log_prob(x), expected)
    assert torch.equal(Likelihood("normal").mean(decoded), torch.sigmoid(decoded))  # image likelihoods unchanged


# ----- the model and both guides on vector frames -----


@pytest.mark.parametrize("kind", ["factorised", "full"])
def test_dsa_traces_on_vector_frames_with_correct_sites(kind):
    model = vector_model()
    guide = vector_guide(model, kind)
    x = torch.randn(B, T, D)
    model_trace, guide_trace = traces(model, guide, x)
    expected = ["f"] + [f"z_{t}" for t in range(1, T + 1)]
    assert list(latent_sites(model_trace)) == expected and list(latent_sites(guide_trace)) == expected
    for trace in (model_trace, guide_trace):
        assert trace.nodes["f"]["fn"].batch_shape == (B,) and trace.nodes["f"]["fn"].event_shape == (4,)
        assert all(trace.nodes[f"z_{t}"]["fn"].event_shape == (3,) for t in range(1, T + 1))
    obs = model_trace.nodes["x"]
    assert obs["fn"].batch_shape == (B,) and obs["fn"].event_shape == (T, D)  # to_event(1 + len(frame_shape))
    assert model_trace.nodes["x"]["log_prob"].shape == (B,)
    check_pair(model, guide, x)
    generated = model(None, batch_size=2, seq_len=7)
    assert generated.shape == (2, 7, D)


def test_vector_dsa_rejects_bounded_likelihoods_and_image_dsa_still_needs_square_frames():
    with pytest.raises(ValueError, match="needs likelihood 'gaussian'"):
        DSA((D,), T, static_dim=4, dynamics_dim=3, hidden_dim=8, width=16, likelihood="normal")
    with pytest.raises(ValueError, match="square image frames"):
        DSA((1, 16, 32), T, static_dim=4, dynamics_dim=3, hidden_dim=8, width=4)


IMAGE_MODEL_KEYS = [  # tiny image DSA before vector frames existed (git HEAD at the change): checkpoints must still load
    "prior_rnn.cell.weight_ih", "prior_rnn.cell.weight_hh", "prior_rnn.cell.bias_ih", "prior_rnn.cell.bias_hh",
    "prior_head.loc.weight", "prior_head.loc.bias", "prior_head.raw_scale.weight", "prior_head.raw_scale.bias",
    "decoder.fc.0.weight", "decoder.fc.0.bias", "decoder.deconv.0.weight", "decoder.deconv.0.bias",
    "decoder.deconv.1.weight", "decoder.deconv.1.bias", "decoder.deconv.3.weight", "decoder.deconv.3.bias",
]
IMAGE_ENCODER_KEYS = [
    "conv.0.weight", "conv.0.bias", "conv.1.weight", "conv.1.bias", "conv.3.weight", "conv.3.bias",
    "conv.4.weight", "conv.4.bias", "fc.1.weight", "fc.1.bias",
]


@pytest.mark.parametrize("kind", ["factorised", "full"])
def test_image_dsa_state_dict_is_unchanged(kind):
    model = DSA((1, 16, 16), 4, static_dim=4, dynamics_dim=3, hidden_dim=8, width=4)
    assert list(model.state_dict()) == IMAGE_MODEL_KEYS
    reference = FrameDecoder(4 + 3, 16, 1, 4).state_dict()  # the decoder the model always built
    decoder = {k[len("decoder."):]: v.shape for k, v in model.state_dict().items() if k.startswith("decoder.")}
    assert decoder == {k: v.shape for k, v in reference.items()}
    guide = GUIDES[kind](model, feature_dim=8, hidden_dim=8, width=4)
    encoder = {k[len("static.encoder."):]: v.shape for k, v in guide.state_dict().items() if k.startswith("static.encoder.")}
    assert list(encoder) == IMAGE_ENCODER_KEYS
    assert encoder == {k: v.shape for k, v in FrameEncoder(16, 1, 8, 4).state_dict().items()}


# ----- training on spoken digits -----


@pytest.mark.parametrize("kind", ["factorised", "full"])
def test_svi_loss_decreases_on_a_tiny_spoken_digits_subset(kind, digits):
    train = digits["train"]
    assert train.frame_shape == (129,) and train[0]["x"].shape == (20, 129)
    x = default_collate([train[i] for i in range(0, len(train), max(1, len(train) // 32))][:32])["x"]
    model = vector_model(129, 20)
    guide = vector_guide(model, kind)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-2}), TraceMeanField_ELBO())
    normaliser = 20 * 129 * 0.5 * np.log(2 * np.pi)  # -log N(x; mu, 1) = 1/2 (x - mu)^2 + this: what no fit can remove
    losses = np.array([svi.step(x) / len(x) for _ in range(30)]) - normaliser  # 1/2 squared error + KL per sequence
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses


# ----- build checks and figures -----


class VectorFrames(Dataset):
    """Stand-in for the spoken-digits shape contract: (T, D) frames."""

    frame_shape, seq_len = (129,), 20

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": torch.zeros(20, 129)}


def compose_cfg(overrides: list[str]):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose(config_name="train", overrides=overrides)


def test_build_rejects_vector_frames_only_for_models_without_them():
    with pytest.raises(ConfigError, match=r"^model 'lstm_f' does not take vector frames .*models that do: dsa$"):
        build_model_and_guide(compose_cfg(["data=spoken_digits", "model=lstm_f"]), VectorFrames())
    model, guide = build_model_and_guide(compose_cfg(["experiment=dsa_spoken_digits_cpu", "guide=full"]), VectorFrames())
    assert model.frame_shape == (129,) and isinstance(guide, DSAFullGuide)
    assert model.likelihood.name == "gaussian" and model.likelihood.scale == 1.0


def test_no_preview_figures_for_vector_frames(digits):
    assert preview_batch(VectorFrames()) is None
    assert preview_batch(digits["test"]) is None


# ----- DSA Table 2 -----


class SpeakerSegments(Dataset):
    """Spoken-digits-like items: the speaker is written into frame 0 (one-hot), labels as data/fsdd.py."""

    frame_shape, seq_len = (8,), 4

    def __init__(self, speakers: int = 4, utterances: int = 6, segments: int = 2) -> None:
        rows = [(s, s * 100 + u, n) for s in range(speakers) for u in range(utterances) for n in range(segments)]
        self.speaker, self.utterance, self.segment = (np.array(column) for column in zip(*rows))
        self.noise = torch.randn(len(rows), self.seq_len, 8, generator=torch.Generator().manual_seed(3))

    def __len__(self) -> int:
        return len(self.speaker)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        x = self.noise[index].clone()
        x[0] = 0.0
        x[0, int(self.speaker[index])] = 1.0
        labels = {"speaker": self.speaker, "digit": self.segment, "utterance": self.utterance, "segment": self.segment}
        return {"x": x, **{key: torch.tensor(int(value[index])) for key, value in labels.items()}}

    def utterance_speakers(self) -> tuple[np.ndarray, np.ndarray]:
        ids, first = np.unique(self.utterance, return_index=True)
        return ids, self.speaker[first]


class SpeakerStubGuide(nn.Module):
    """q(f | x) centred on the one-hot speaker (read from frame 0); q(z_t | x) centred on random, speaker-free locs."""

    latent_groups = {"static": r"f", "dynamics": r"z_\d+"}

    def forward(self, x: torch.Tensor) -> None:
        with pyro.plate("sequences", x.shape[0]):
            pyro.sample("f", dist.Normal(x[:, 0, :4], 0.1).to_event(1))
            for t in range(1, x.shape[1] + 1):
                pyro.sample(f"z_{t}", dist.Normal(torch.randn(x.shape[0], 3), 0.1).to_event(1))


def test_table2_speaker_coded_f_gives_zero_eer_and_random_z_near_half():
    dataset = SpeakerSegments()
    result = dsa_table2(SpeakerStubGuide(), SiteGroups.of(SpeakerStubGuide), dataset, batch_size=5)
    assert result["eer_static"] == 0.0
    assert 0.3 < result["eer_dynamics"] < 0.7
    same_pairs = 4 * 6 * 5 // 2  # 4 speakers x C(6, 2) same-speaker pairs, balanced by as many different ones
    assert result["trials"] == 2 * same_pairs and result["same_speaker_trials"] == same_pairs
    assert result["utterances"] == 24 and result["segments"] == 48
    assert result["static_dim"] == 4 and result["dynamics_dim"] == 3


def test_table2_needs_static_and_dynamics_groups():
    with pytest.raises(ValueError, match="needs latent groups 'static' and 'dynamics'"):
        dsa_table2(SpeakerStubGuide(), {"static": r"f", "motion": r"z_\d+"}, SpeakerSegments())


@pytest.mark.parametrize("kind", ["factorised", "full"])
def test_table2_runs_for_a_dsa_guide_on_the_spoken_digits_test_split(kind, digits):
    test = digits["test"]
    model = vector_model(129, 20)
    guide = vector_guide(model, kind).eval()
    result = dsa_table2(guide, model.latent_groups, test, batch_size=50)
    assert result["utterances"] == 60 and result["segments"] == len(test)
    assert result["trials"] == len(trials_for_dataset(test)["same_speaker"]) == 2 * 6 * 45
    assert 0.0 <= result["eer_static"] <= 1.0 and 0.0 <= result["eer_dynamics"] <= 1.0
    assert result["static_dim"] == 4 and result["dynamics_dim"] == 3


def test_eer_by_content_shows_a_word_held_in_the_static_feature():
    from data.speech_trials import build_trials
    from evaluation.speech import eer_by_content

    rng = np.random.default_rng(0)
    speakers, words = rng.normal(size=(4, 8)), rng.normal(size=(5, 8))
    utterances = [(s, w) for s in range(4) for w in range(5) for _ in range(3)]
    speaker_of = np.array([s for s, _ in utterances])
    contents = {i: w for i, (_, w) in enumerate(utterances)}
    trials = build_trials(np.arange(len(utterances)), speaker_of, mode="all")
    noise = lambda: 0.3 * rng.normal(size=8)  # noqa: E731
    with_word = {i: speakers[s] + 2.0 * words[w] + noise() for i, (s, w) in enumerate(utterances)}
    without_word = {i: speakers[s] + noise() for i, (s, w) in enumerate(utterances)}
    held = eer_by_content(with_word, trials, contents)
    assert held["different_content"] > held["same_content"] + 0.2  # the word in f hurts pairs of different words only
    clean = eer_by_content(without_word, trials, contents)
    assert abs(clean["different_content"] - clean["same_content"]) < 0.1
    assert eer_by_content(with_word, trials, None) is None
