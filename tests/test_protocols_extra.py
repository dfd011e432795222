"""FVD in a judge's (or a TorchScript extractor's) feature space, and VDSM Table 1 embedding accuracies, on known cases."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from evaluation.judges import JudgeError, build_judge
from evaluation.protocols import embedding_accuracy, fvd_judge, sequence_embeddings
from inference.anneal import SiteGroups

FRAMES = 4


class ColouredSquares(Dataset):
    """RGB 64 x 64 sequences: a square of a random colour moving right from a random place at a random speed."""

    seq_len = FRAMES

    def __init__(self, count: int) -> None:
        generator = torch.Generator().manual_seed(2)
        self.x = torch.zeros(count, FRAMES, 3, 64, 64)
        for i in range(count):
            colour, row, start, speed = (int(torch.randint(0, high, (1,), generator=generator)) for high in (3, 48, 16, 8))
            for t in range(FRAMES):
                self.x[i, t, colour, row : row + 16, start + speed * t : start + speed * t + 16] = 0.9

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index]}


class Replay(nn.Module):
    """A stand-in "model" whose prior samples are given sequences, handed out in order."""

    def __init__(self, sequences: torch.Tensor) -> None:
        super().__init__()
        self.sequences, self.served = sequences, 0

    def forward(self, x=None, batch_size: int = 1, seq_len: int = FRAMES) -> torch.Tensor:
        out = self.sequences[self.served : self.served + batch_size, :seq_len]
        self.served += batch_size
        return out


class Noise(nn.Module):
    """A stand-in "model" that generates uniform noise frames."""

    def forward(self, x=None, batch_size: int = 1, seq_len: int = FRAMES) -> torch.Tensor:
        return torch.rand(batch_size, seq_len, 3, 64, 64)


@pytest.fixture(scope="module")
def judge():
    """An untrained tiny Sprites judge: its features are still a fixed function of the frames."""
    return build_judge("sprites", width=4, feature_dim=8)


def test_sprites_judge_features_see_appearance_and_motion(judge) -> None:
    x = ColouredSquares(3).x
    features = judge.features(x, batch_size=2)
    assert features.shape == (3, 24)  # 8 time-averaged frame features + 16 action-head inputs
    reversed_in_time = judge.features(x.flip(1))
    assert torch.allclose(features[:, :8], reversed_in_time[:, :8], atol=1e-5)  # same frames: same appearance half
    assert not torch.allclose(features[:, 8:], reversed_in_time[:, 8:], atol=1e-5)  # motion half tells the order
    with pytest.raises(JudgeError, match="sprites judge reads"):
        judge.features(x[0])
    with pytest.raises(JudgeError, match="need sequences"):
        build_judge("mnist", width=4, feature_dim=8).features(torch.rand(2, 1, 64, 64))


def test_fvd_judge_of_the_real_set_against_itself_is_zero_and_of_noise_large(judge) -> None:
    data = ColouredSquares(96)
    same = fvd_judge(Replay(data.x), judge, data, count=96, batch_size=40)
    assert same["fvd"] < 1e-9
    assert same["metric"] == "FVD-judge (sprites judge)" and same["sequences"] == 96 and same["features"] == 24
    assert same["real_vs_real"] > 0 and same["fvd_half"] == pytest.approx(same["real_vs_real"])  # halves differ
    torch.manual_seed(0)
    noise = fvd_judge(Noise(), judge, data, count=96, batch_size=40)
    assert noise["fvd"] > 3 * same["real_vs_real"] and noise["fvd_half"] > 3 * same["real_vs_real"]  # untrained judge: 3.9x
    assert noise["real_vs_real"] == pytest.approx(same["real_vs_real"])


def test_fvd_extractor_round_trip_and_one_line_errors(tmp_path: Path, judge) -> None:
    class MeanColour(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(1, 3, 4)) * 100  # (B, 3): how much of each colour

    class WrongShape(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(3, 4))  # (B, T, 3)

    good, bad = tmp_path / "mean_colour.pt", tmp_path / "wrong.pt"
    with warnings.catch_warnings():  # torch.jit is deprecated (torch 2.14) but still a common export format
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(MeanColour()), str(good))
        torch.jit.save(torch.jit.script(WrongShape()), str(bad))
    data = ColouredSquares(12)
    result = fvd_judge(Replay(data.x), None, data, count=12, batch_size=5, extractor=good)
    assert result["metric"] == "FVD (mean_colour.pt)" and result["extractor"] == "mean_colour.pt" and result["features"] == 3
    assert result["fvd"] < 1e-6
    expected_floor = ((data.x[:6].mean(dim=(1, 3, 4)) * 100).double(), (data.x[6:].mean(dim=(1, 3, 4)) * 100).double())
    from evaluation.metrics import frechet_distance

    assert result["real_vs_real"] == pytest.approx(frechet_distance(*expected_floor))
    for path, message in ((tmp_path / "missing.pt", "does not exist"), (bad, r"must map \(B, T, C, H, W\) to \(B, F\)")):
        with pytest.raises(ValueError, match=message) as raised:
            fvd_judge(Noise(), judge, data, count=12, extractor=path)
        assert "\n" not in str(raised.value)
    not_script = tmp_path / "plain.pt"
    not_script.write_bytes(b"not a TorchScript archive")
    with pytest.raises(ValueError, match="not a loadable TorchScript module") as raised:
        fvd_judge(Noise(), judge, data, count=12, extractor=not_script)
    assert "\n" not in str(raised.value)
    with pytest.raises(ValueError, match="count"):
        fvd_judge(Noise(), judge, data, count=13)


def test_fvd_extractor_saved_by_torch_export(tmp_path: Path) -> None:
    class MeanColour(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(1, 3, 4))

    path = tmp_path / "mean_colour.pt2"
    batch = torch.export.Dim("batch", min=2)
    torch.export.save(torch.export.export(MeanColour(), (torch.rand(3, FRAMES, 3, 64, 64),), dynamic_shapes=({0: batch},)), str(path))
    data = ColouredSquares(12)
    result = fvd_judge(Replay(data.x), None, data, count=12, batch_size=5, extractor=path)
    assert result["metric"] == "FVD (mean_colour.pt2)" and result["features"] == 3 and result["fvd"] < 1e-9


# ---------------------------------------------------------------- embedding accuracy
CHARACTERS, ACTIONS, COLOURS = 30, 4, 3


class Characters(Dataset):
    """Each character (colour, size) performs every action once; the labels are written into pixel (0, 0) of each frame."""

    labels_info = {"attributes": {"names": ("colour", "size")}, "action": {"num_classes": ACTIONS}}
    seq_len = FRAMES

    def __len__(self) -> int:
        return CHARACTERS * ACTIONS

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        character, action = divmod(index, ACTIONS)
        colour, size = character % COLOURS, (character // COLOURS) % 2
        x = torch.zeros(FRAMES, 1, 2, 2)
        x[:, 0, 0, 0] = colour
        x[:, 0, 0, 1] = (action + torch.arange(FRAMES)) % ACTIONS  # the action shows as a phase over time
        return {"x": x, "attributes": torch.tensor([colour, size]), "action": torch.tensor(action), "character": torch.tensor(character)}


class OracleGuide(nn.Module):
    """Static site f = one-hot colour; per-step sites z_t = one-hot of the frame's phase (only the sequence tells the action)."""

    latent_groups = {"static": r"f", "dynamics": r"z_\d+"}

    def forward(self, x: torch.Tensor) -> None:
        with pyro.plate("sequences", x.shape[0]):
            colour = nn.functional.one_hot(x[:, 0, 0, 0, 0].long(), COLOURS).float()
            pyro.sample("f", dist.Normal(colour, 1.0).to_event(1))
            for t in pyro.markov(range(x.shape[1])):
                phase = nn.functional.one_hot(x[:, t, 0, 0, 1].long(), ACTIONS).float()
                pyro.sample(f"z_{t + 1}", dist.Normal(phase, 1.0).to_event(1))


def test_embedding_accuracy_of_an_oracle_guide() -> None:
    guide, groups = OracleGuide(), SiteGroups.of(OracleGuide)
    result = embedding_accuracy(guide, groups, Characters(), count=len(Characters()), batch_size=32, identity="character")
    accuracy, chance = result["accuracy"], result["chance"]
    assert result["split_by"] == "character" and result["sequences"] == {"train": 60, "test": 60}
    assert set(accuracy["static"]) == {"colour", "size", "action"}  # identity is the split, not a factor
    assert result["dimensions"] == {"static": COLOURS, "dynamics": FRAMES * ACTIONS}
    assert accuracy["static"]["colour"] == 1.0
    assert accuracy["static"]["action"] == pytest.approx(1 / ACTIONS)  # every character does every action
    assert chance["action"] == pytest.approx(1 / ACTIONS)
    assert accuracy["dynamics"]["action"] == 1.0
    assert accuracy["dynamics"]["colour"] <= chance["colour"] + 1e-9  # no better than the commonest colour
    assert result["classes"] == {"colour": COLOURS, "size": 2, "action": ACTIONS}
    means = embedding_accuracy(guide, groups, Characters(), count=40, batch_size=32, factors=["action"], pooling="mean", identity="character")
    assert set(means["accuracy"]["dynamics"]) == {"action"} and means["dimensions"]["dynamics"] == ACTIONS
    assert means["accuracy"]["dynamics"]["action"] == pytest.approx(1 / ACTIONS)  # a cycling phase averages out
    with pytest.raises(ValueError, match="unknown factor\\(s\\) hat; this data set has: colour, size, action"):
        embedding_accuracy(guide, groups, Characters(), count=40, factors=["hat"], identity="character")


class FacingCharacters(Characters):
    """The same sequences with the action labelled the Sprites way: action = 2 * motion type + direction."""

    labels_info = {**Characters.labels_info, "action": {"num_classes": ACTIONS, "actions": ("walk", "slash"), "directions": ("left", "right")}}


class DirectionInStaticGuide(OracleGuide):
    """The oracle whose static site also holds the direction (the action's parity, read from the first frame's phase)."""

    def forward(self, x: torch.Tensor) -> None:
        with pyro.plate("sequences", x.shape[0]):
            colour = nn.functional.one_hot(x[:, 0, 0, 0, 0].long(), COLOURS).float()
            direction = nn.functional.one_hot(x[:, 0, 0, 0, 1].long() % 2, 2).float()
            pyro.sample("f", dist.Normal(torch.cat([colour, direction], -1), 1.0).to_event(1))
            for t in pyro.markov(range(x.shape[1])):
                pyro.sample(f"z_{t + 1}", dist.Normal(nn.functional.one_hot(x[:, t, 0, 0, 1].long(), ACTIONS).float(), 1.0).to_event(1))


def test_embedding_accuracy_scores_each_part_of_a_composite_action() -> None:
    """A static latent that holds the direction and not the motion type: the parts tell which, where the whole action cannot."""
    guide, groups = DirectionInStaticGuide(), SiteGroups.of(OracleGuide)
    found = embedding_accuracy(guide, groups, FacingCharacters(), count=len(FacingCharacters()), batch_size=32, identity="character",
                               factors=["action", "action.motion", "action.direction"])
    static = found["accuracy"]["static"]
    assert static["action.direction"] == 1.0 and static["action.motion"] == pytest.approx(0.5) and static["action"] == pytest.approx(0.5)
    assert found["accuracy"]["dynamics"] == {"action": 1.0, "action.motion": 1.0, "action.direction": 1.0}
    assert found["classes"] == {"action": ACTIONS, "action.motion": 2, "action.direction": 2}


def test_sequence_factors_split_a_composite_label_as_the_data_set_lays_it_out() -> None:
    from evaluation.protocols import sequence_factors

    info = {"action": {"num_classes": 6, "actions": ("walk", "slash"), "directions": ("front", "left", "right")}}
    factors = sequence_factors({"action": np.arange(6)}, info, FRAMES)  # action = len(directions) * motion + direction
    assert factors["action.motion"].tolist() == [0, 0, 0, 1, 1, 1] and factors["action.direction"].tolist() == [0, 1, 2, 0, 1, 2]
    assert set(sequence_factors({"action": np.arange(6)}, {"action": {"num_classes": 6}}, FRAMES)) == {"action"}


def test_split_never_puts_a_character_in_both_halves() -> None:
    from evaluation.protocols import _held_out_half

    groups = SiteGroups.of(OracleGuide)
    embeddings, labels = sequence_embeddings(OracleGuide(), groups, Characters(), 120, 50, torch.device("cpu"))
    assert embeddings["static"].shape == (120, COLOURS) and labels["attributes"].shape == (120, 2)
    test, split_by = _held_out_half(labels, 120, "character")
    assert split_by == "character"
    assert not set(labels["character"][test]) & set(labels["character"][~test])


def test_embedding_accuracy_of_a_single_character_is_skipped_not_an_error() -> None:
    guide, groups = OracleGuide(), SiteGroups.of(OracleGuide)
    found = embedding_accuracy(guide, groups, Characters(), count=ACTIONS, batch_size=4, identity="character")  # the first character's actions only
    assert found["chance"] == {} and set(found["skipped"]) == {"colour", "size", "action"}
    assert "single character" in found["skipped"]["action"]
