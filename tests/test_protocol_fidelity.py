"""Known answers for the papers' protocols on an oracle model whose latents are written into the pixels: a protocol that
keeps the wrong latent, compares the wrong pair or judges the wrong label gets a different number, not a different range."""
from __future__ import annotations

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from evaluation.judges import Judge
from evaluation.metrics import equal_error_rate
from evaluation.protocols import (
    NotApplicable, accuracy_consistency, balanced_indices, dsa_table1, fixed_motion_scores, generation_scores, gw_disentanglement,
    label_parts, reconstruction_consistency, swap_consistency, swap_donors,
)
from evaluation.speech import dsa_table2
from inference.anneal import SiteGroups
from inference.latents import generate_keeping, posterior_means

T = 4
SHARP = 60.0  # judge logits per unit of pixel value: nearly one-hot predictions


class PixelModel(nn.Module):
    """f ~ N(0, 1) and z_t ~ N(0, 1) written into two pixels of a (1, 1, 2) frame: pixel 0 = f, pixel 1 = z_t."""

    name = "pixel"
    latent_groups = {"static": r"f", "dynamics": r"z_\d+"}

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, x=None, batch_size=None, seq_len=None):
        batch_size, seq_len = (x.shape[0], x.shape[1]) if x is not None else (batch_size, seq_len)
        with pyro.plate("sequences", batch_size):
            f = pyro.sample("f", dist.Normal(torch.zeros(batch_size, 1), 1.0).to_event(1))
            zs = [pyro.sample(f"z_{t}", dist.Normal(torch.zeros(batch_size, 1), 1.0).to_event(1)) for t in range(1, seq_len + 1)]
            frames = torch.stack([torch.cat([f, z], -1) for z in zs], 1).reshape(batch_size, seq_len, 1, 1, 2)
            pyro.sample("x", dist.Normal(frames, 0.01).to_event(4), obs=x)
        return frames


def pixel_guide(x, batch_size=None, seq_len=None):
    """Reads f (time mean of pixel 0) and z_t (pixel 1 of frame t) back with a tiny scale."""
    with pyro.plate("sequences", x.shape[0]):
        pyro.sample("f", dist.Normal(x[:, :, 0, 0, :1].mean(1), 1e-3).to_event(1))
        for t in range(1, x.shape[1] + 1):
            pyro.sample(f"z_{t}", dist.Normal(x[:, t - 1, 0, 0, 1:], 1e-3).to_event(1))


class SignJudge(Judge):
    """Static head: the sign of pixel 0 per frame; motion head: the sign of pixel 1 summed over time, per sequence."""

    name = "sign"
    heads = {"content": 2, "motion": 2}
    levels = {"content": "frame", "motion": "sequence"}
    static_heads = ("content",)
    motion_heads = ("motion",)
    bounded = False
    input_tail = (1, 1, 2)

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        content, motion = x[..., 0, 0, 0], x[..., 0, 0, 1].sum(-1)
        return {"content": SHARP * torch.stack([-content, content], -1), "motion": SHARP * torch.stack([-motion, motion], -1)}


class PixelSequences(Dataset):
    """Sequences drawn from the pixel model's prior with their true classes: ``content`` (sign of f), ``motion``."""

    def __init__(self, count: int = 48, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        f, z = torch.randn(count, 1, generator=generator), torch.randn(count, T, generator=generator)
        self.x = torch.stack([f.expand(count, T), z], -1).reshape(count, T, 1, 1, 2)
        self.content, self.motion = (f[:, 0] > 0).long(), (z.sum(1) > 0).long()

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "content": self.content[index], "motion": self.motion[index]}


@pytest.fixture
def oracle():
    model = PixelModel()
    return model, SiteGroups.of(model), PixelSequences(), SignJudge()


def test_generate_keeping_conditions_exactly_the_kept_group(oracle):
    model, groups, data, _ = oracle
    x = data.x[:8]
    means = posterior_means(pixel_guide, x)
    for keep, kept, redrawn in ((("static",), ["f"], [f"z_{t}" for t in range(1, T + 1)]), (("dynamics",), [f"z_{t}" for t in range(1, T + 1)], ["f"])):
        tracer = poutine.trace(model)
        generate_keeping(tracer, pixel_guide, groups, x, keep)
        values = {name: site["value"] for name, site in tracer.trace.nodes.items() if site["type"] == "sample"}
        assert all(torch.equal(values[name], means[name]) for name in kept), keep
        assert all((values[name] - means[name]).abs().mean() > 0.3 for name in redrawn), keep  # drawn from N(0, 1), not encoded


def test_dsa_table1_keeps_f_for_the_static_heads_and_z_for_the_motion_heads(oracle):
    model, groups, data, judge = oracle
    table = dsa_table1(model, pixel_guide, groups, data, judge, count=len(data), batch_size=16)
    assert table["content"]["disagreement"] == 0.0 and table["motion"]["disagreement"] == 0.0
    assert table["content"]["kl_recon"] < 1e-3 < table["content"]["kl_random"]


def test_accuracy_consistency_samples_the_other_factor_and_agrees_on_the_kept_one(oracle):
    model, groups, data, judge = oracle
    assert accuracy_consistency(model, pixel_guide, groups, data, judge, count=len(data), batch_size=16) == {"content": 1.0, "motion": 1.0}
    rebuilt = reconstruction_consistency(model, pixel_guide, data, judge, count=len(data), batch_size=16)
    assert rebuilt == {"content": 1.0, "motion": 1.0}


def test_a_judge_blind_to_the_kept_factor_scores_chance(oracle):
    """Sanity of the known answer: swapping the judge's heads (content read as motion) drops agreement to about half."""
    model, groups, data, _ = oracle

    class Swapped(SignJudge):
        static_heads, motion_heads = ("motion",), ("content",)
        levels = {"content": "sequence", "motion": "frame"}

        def forward(self, x):
            out = super().forward(x)
            return {"content": out["content"].mean(-2), "motion": out["motion"].unsqueeze(-2).expand(*x.shape[:2], 2)}

    found = accuracy_consistency(model, pixel_guide, groups, data, Swapped(), count=len(data), batch_size=16)
    assert all(0.25 < value < 0.75 for value in found.values())


def test_fixed_motion_protocol_judges_true_labels_on_a_balanced_set(oracle):
    model, groups, data, judge = oracle
    scores = fixed_motion_scores(model, pixel_guide, groups, data, judge, count=len(data), batch_size=16)
    row = scores["motion"]
    per_class = min(int((data.motion == c).sum()) for c in (0, 1))
    assert row["sequences"] == 2 * per_class and row["classes"] == 2
    assert row["accuracy"] == 1.0
    assert row["inter_entropy"] == pytest.approx(math.log(2), abs=1e-6)  # balanced: H(y) = ln 2 exactly
    assert row["intra_entropy"] < 0.05 and row["inception_score"] == pytest.approx(2.0, rel=0.05)


def test_fixed_motion_with_too_few_sequences_is_listed_not_fatal(oracle):
    model, groups, data, judge = oracle
    with pytest.raises(NotApplicable, match="at least 2 sequences"):
        fixed_motion_scores(model, pixel_guide, groups, data, judge, count=1)


def test_balanced_indices_take_the_same_number_of_every_class():
    labels = np.array([0, 0, 0, 1, 2, 2, 1, 0, 2])
    chosen = balanced_indices(labels, count=6)
    assert chosen.tolist() == [0, 1, 3, 4, 5, 6]
    assert balanced_indices(labels, count=100).tolist() == [0, 1, 3, 4, 5, 6]  # limited by the rarest class (2 each)


def test_inception_score_of_prior_generations_with_a_reading_judge(oracle):
    """The judge reads the sign of f, which the prior draws 50/50: IS -> 2, H(y) -> ln 2, H(y|x) -> 0."""
    model, _, _, judge = oracle
    torch.manual_seed(0)
    scores = generation_scores(model, judge, count=400, seq_len=T, batch_size=100)["content"]
    assert scores["inter_entropy"] == pytest.approx(math.log(2), abs=0.01)
    assert scores["intra_entropy"] < 0.05
    assert scores["inception_score"] == pytest.approx(math.exp(scores["inter_entropy"] - scores["intra_entropy"]), rel=1e-9)
    assert scores["inception_score"] == pytest.approx(2.0, rel=0.05)


# ---------------------------------------------------------------- G&W eq. 19 on an oracle encoder


class LabelFrames(Dataset):
    """Frames whose pixel 0 codes the static class (per sequence) and pixel 1 the temporal class (per frame)."""

    def __init__(self, sequences: int = 60) -> None:
        self.static = torch.arange(sequences) % 3
        self.temporal = (torch.arange(sequences)[:, None] + torch.arange(T)) % 4
        self.x = torch.stack([self.static[:, None].expand(sequences, T).float(), self.temporal.float()], -1).reshape(sequences, T, 1, 1, 2)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "digit": self.static[index], "location": self.temporal[index]}


def one_hot_guide(x, batch_size=None, seq_len=None):
    """h^s = one-hot static class, h^t = one-hot temporal class per frame: the label-copying code of eq. 19's maximum."""
    static = nn.functional.one_hot(x[:, 0, 0, 0, 0].long(), 3).float()
    temporal = nn.functional.one_hot(x[:, :, 0, 0, 1].long(), 4).float()
    with pyro.plate("sequences", x.shape[0]):
        pyro.sample("f", dist.Normal(static, 1e-3).to_event(1))
        for t in range(1, x.shape[1] + 1):
            pyro.sample(f"z_{t}", dist.Normal(temporal[:, t - 1], 1e-3).to_event(1))


def test_gw_disentanglement_of_a_label_copying_encoder_reaches_the_maximum():
    groups = SiteGroups({"static": r"f", "dynamics": r"z_\d+"})
    result = gw_disentanglement(one_hot_guide, groups, LabelFrames(), 60, "digit", "location", batch_size=16)
    assert result["static_feature_accuracy"] == 1.0
    # a_s = acc(static on digit) / acc(static on location): 1 / (1/4), since every sequence shows each of the 4 locations
    # once and a per-sequence code can name only one of them; a_t's denominator depends on the seeded held-out split
    assert result["a_static"] == pytest.approx(4.0) and result["a_temporal"] > 1.0
    assert result["d_score"] == pytest.approx(math.sqrt(result["a_static"] * result["a_temporal"]))


# ---------------------------------------------------------------- DSA Table 2 with a code shared by pairs of speakers


class PairedSpeakers(Dataset):
    """4 speakers x 6 utterances x 2 segments; frame 0 carries the speaker, frame 1 the speaker pair (0-1, 2-3)."""

    def __init__(self) -> None:
        rows = [(s, s * 100 + u) for s in range(4) for u in range(6) for _ in range(2)]
        self.speaker, self.utterance = (np.array(column) for column in zip(*rows))

    def __len__(self) -> int:
        return len(self.speaker)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        x = torch.zeros(T, 4)
        x[0, self.speaker[index]] = 1.0
        x[1, self.speaker[index] // 2] = 1.0
        return {"x": x, "utterance": torch.tensor(int(self.utterance[index])), "speaker": torch.tensor(int(self.speaker[index]))}

    def utterance_speakers(self):
        ids, first = np.unique(self.utterance, return_index=True)
        return ids, self.speaker[first]


def speaker_guide(x, batch_size=None, seq_len=None):
    """q(f) on the speaker code; q(z_t) on the pair code at every step (so mu_z knows the pair, not the speaker)."""
    with pyro.plate("sequences", x.shape[0]):
        pyro.sample("f", dist.Normal(x[:, 0], 1e-3).to_event(1))
        for t in range(1, x.shape[1] + 1):
            pyro.sample(f"z_{t}", dist.Normal(x[:, 1, :2], 1e-3).to_event(1))


def test_table2_eer_follows_what_each_latent_knows_of_the_speaker():
    data = PairedSpeakers()
    result = dsa_table2(speaker_guide, {"static": r"f", "dynamics": r"z_\d+"}, data, batch_size=7)
    from data.speech_trials import trials_for_dataset

    trials = trials_for_dataset(data)
    utterances, speakers = data.utterance_speakers()
    speaker_of = dict(zip(utterances.tolist(), speakers.tolist()))
    enrol, test = (np.array([speaker_of[u] for u in trials[k]]) for k in ("enrol", "test"))
    expected_z = equal_error_rate((enrol // 2 == test // 2).astype(float), trials["same_speaker"])  # cosine 1 within a pair, 0 across
    assert result["eer_static"] == 0.0
    assert result["eer_dynamics"] == pytest.approx(expected_z) and 0.1 < expected_z < 0.5
    assert result["speakers"] == 4 and result["split_by"] == "unknown"


def test_swap_consistency_follows_each_factor_to_its_donor(oracle):
    model, groups, data, judge = oracle
    assert swap_consistency(model, pixel_guide, groups, data, judge, count=len(data), batch_size=16) == {"content": 1.0, "motion": 1.0}


def test_swap_consistency_sees_motion_held_in_the_static_latent(oracle):
    """A model that decodes the motion from f as well: the swap follows f's donor, so the motion agreement drops."""
    model, groups, data, judge = oracle

    pixels = PixelModel()

    def leaky_model(x=None, batch_size=None, seq_len=None):
        with poutine.block(hide=["x"]):
            frames = pixels(None, batch_size, seq_len)
        moved = torch.cat([frames[..., :1], frames[..., :1]], -1)  # pixel 1 (the motion) now copies f
        with pyro.plate("sequences", batch_size):
            pyro.sample("x", dist.Normal(moved, 0.01).to_event(4), obs=x)
        return moved

    found = swap_consistency(leaky_model, pixel_guide, groups, data, judge, count=len(data), batch_size=16)
    assert found["content"] == 1.0 and 0.25 < found["motion"] < 0.75


class CharacterBlocks(PixelSequences):
    """Pixel sequences stored as Sprites is, one character after another: each block of 8 neighbours shares its f."""

    def __init__(self, count: int = 48) -> None:
        super().__init__(count)
        f = self.x[::8, :, 0, 0, 0].repeat_interleave(8, 0)
        self.x[:, :, 0, 0, 0] = f
        self.content = (f[:, 0] > 0).long()


def test_swap_consistency_does_not_credit_f_with_content_its_donor_shares_by_order(oracle):
    """A model that draws both pixels from z_t and ignores f: the content never follows f, so it may agree with the f
    donor only as often as two random sequences share a sign. Donors taken from the neighbours would share it by order."""
    _, groups, _, judge = oracle
    data = CharacterBlocks()

    def z_only_model(x=None, batch_size=None, seq_len=None):
        with pyro.plate("sequences", batch_size):
            pyro.sample("f", dist.Normal(torch.zeros(batch_size, 1), 1.0).to_event(1))
            zs = [pyro.sample(f"z_{t}", dist.Normal(torch.zeros(batch_size, 2), 1.0).to_event(1)) for t in range(1, seq_len + 1)]
            frames = torch.stack(zs, 1).reshape(batch_size, seq_len, 1, 1, 2)
            pyro.sample("x", dist.Normal(frames, 0.01).to_event(4), obs=x)
        return frames

    def z_only_guide(x, batch_size=None, seq_len=None):
        with pyro.plate("sequences", x.shape[0]):
            pyro.sample("f", dist.Normal(x[:, :, 0, 0, :1].mean(1), 1e-3).to_event(1))
            for t in range(1, x.shape[1] + 1):
                pyro.sample(f"z_{t}", dist.Normal(x[:, t - 1, 0, 0, :], 1e-3).to_event(1))

    donors = swap_donors(len(data))
    assert sorted(donors) == list(range(len(data))) and all(donors != np.arange(len(data)))  # a permutation, no self-swaps
    same_sign = float((data.content[donors] == data.content).float().mean())
    found = swap_consistency(z_only_model, z_only_guide, groups, data, judge, count=len(data), batch_size=16)
    assert found["content"] == pytest.approx(same_sign) and found["content"] < 0.75
    assert found["motion"] == 1.0


class FacingJudge(SignJudge):
    """The motion head composes two parts as Sprites' action does: class = 2 * motion type + direction, where the motion
    type is the sign of pixel 1 summed over time (z) and the direction the sign of pixel 0 (f, as a leaky model holds it)."""

    heads = {"content": 2, "motion": 4}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        judged = super().forward(x)
        motion_type = judged["motion"].argmax(-1)
        direction = (x[..., 0, 0, 0].mean(-1) > 0).long()
        return {"content": judged["content"], "motion": SHARP * nn.functional.one_hot(2 * motion_type + direction, 4).float()}


class FacingSequences(PixelSequences):
    """Pixel sequences whose motion label is labelled the Sprites way: two motion types x two directions."""

    labels_info = {"motion": {"num_classes": 4, "actions": ("walk", "slash"), "directions": ("left", "right")}}


def test_swap_consistency_splits_a_composite_action_into_the_part_z_keeps_and_the_part_f_takes(oracle):
    """The direction is drawn from f and the motion type from z: among swaps whose donors differ in a part, the motion
    type always follows the motion donor and the direction never does; the whole action only when the donors share the direction."""
    model, groups, _, _ = oracle
    data, judge = FacingSequences(), FacingJudge()
    found = swap_consistency(model, pixel_guide, groups, data, judge, count=len(data), batch_size=16)
    donors = swap_donors(len(data))
    same_direction = float((data.content[donors] == data.content).float().mean())
    assert found["motion.motion"] == 1.0 and found["motion.direction"] == 0.0
    assert found["motion"] == pytest.approx(same_direction) and 0.25 < same_direction < 0.75
    assert found["content"] == 1.0
    assert "motion.motion" not in swap_consistency(model, pixel_guide, groups, PixelSequences(), SignJudge(), count=16, batch_size=16)
    one_direction = {"motion": {"num_classes": 2, "actions": ("walk", "slash"), "directions": ("front",)}}
    assert label_parts(one_direction, "motion") == {}  # nothing to split: the motion type is the whole label


def test_the_report_shows_the_swap_check_beside_the_reconstruction_check():
    from evaluation.report import paper_sections

    text = "\n".join(paper_sections({"data": "sprites", "model": "dsa", "swap_consistency": {"body": 0.985, "action": 0.2431}}))
    assert "## Swap consistency (ours" in text and "body 98.50%, action 24.31%" in text
