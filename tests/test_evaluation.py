"""Evaluation protocols on trained-model plumbing: known answers with a constant judge, D-score on encoded frames."""
import torch
from torch import nn

from evaluation.judges import Judge
from evaluation.protocols import dsa_table1, frame_features, generation_scores, gw_disentanglement
from evaluation.plugins import METRICS
from inference.anneal import SiteGroups
from tests.conftest import MovingSquares, tiny_guide, tiny_model


class ConstantJudge(Judge):
    """A judge that ignores its input: every frame and sequence gets the same probabilities."""

    name = "constant"
    heads = {"colour": 3, "action": 4}
    levels = {"colour": "frame", "action": "sequence"}
    static_heads = ("colour",)
    motion_heads = ("action",)
    colour = torch.tensor([0.7, 0.2, 0.1])

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        batch, frames = x.shape[:2]
        return {"colour": self.colour.log().expand(batch, frames, 3), "action": torch.zeros(batch, 4)}


class LabelledSquares(MovingSquares):
    """Moving squares with a static label (square size) and a temporal label per frame (column bucket)."""

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "size": torch.tensor(index % 3), "column": torch.tensor([(2 * t + index) % 3 for t in range(4)])}


def test_dsa_table1_with_an_input_blind_judge_finds_no_disagreement():
    model = tiny_model()
    table = dsa_table1(model, tiny_guide(model), SiteGroups.of(model), MovingSquares(6), ConstantJudge(), count=6, batch_size=4)
    assert set(table) == {"colour", "action"}
    for row in table.values():
        assert row["disagreement"] == 0.0 and abs(row["kl_recon"]) < 1e-9 and row["kl_random"] >= 0
    assert abs(table["action"]["kl_random"]) < 1e-9  # uniform p_data: KL[uniform || p_data] = 0


def test_generation_scores_of_an_input_blind_judge():
    model = tiny_model()
    scores = generation_scores(model, ConstantJudge(), count=6, seq_len=4, batch_size=4)
    assert set(scores) == {"colour", "action"}  # a frame head without a sequence twin is averaged over time
    for row in scores.values():
        assert abs(row["inception_score"] - 1.0) < 1e-6 and abs(row["intra_entropy"] - row["inter_entropy"]) < 1e-6
    assert abs(scores["action"]["inter_entropy"] - torch.log(torch.tensor(4.0)).item()) < 1e-6
    assert abs(scores["colour"]["inter_entropy"] + (ConstantJudge.colour * ConstantJudge.colour.log()).sum().item()) < 1e-5


def test_dsa_table1_scores_only_the_heads_a_judge_names():
    class StaticOnly(ConstantJudge):
        motion_heads = ()

    model = tiny_model()
    table = dsa_table1(model, tiny_guide(model), SiteGroups.of(model), MovingSquares(4), StaticOnly(), count=4, batch_size=4)
    assert set(table) == {"colour"}


def test_frame_features_stack_per_step_sites_and_repeat_static_ones():
    model = tiny_model()
    features, labels = frame_features(tiny_guide(model), SiteGroups.of(model), LabelledSquares(5), 5, 2, torch.device("cpu"))
    assert features["static"].shape == (20, 4) and features["dynamics"].shape == (20, 3)
    assert (features["static"][:4] == features["static"][0]).all()  # f is the same on every frame of a sequence
    assert labels["size"].shape == (20,) and labels["column"].tolist()[:4] == [0, 2, 1, 0]


def test_gw_disentanglement_returns_the_eq19_terms():
    model = tiny_model()
    result = gw_disentanglement(tiny_guide(model), SiteGroups.of(model), LabelledSquares(24), 24, "size", "column", batch_size=8)
    assert set(result) == {"d_score", "a_static", "a_temporal", "static_feature_accuracy"}
    assert result["d_score"] >= 0 and 0 <= result["static_feature_accuracy"] <= 1


def test_report_flags_an_fvd_with_more_features_than_sequences_per_half():
    row = {"metric": "FVD-judge (x judge)", "fvd": 1.0, "fvd_half": 1.0, "real_vs_real": 2.0, "features": 256}
    assert "Not meaningful" in "\n".join(METRICS["fvd"].section({"fvd": {**row, "sequences": 505}}, {}))
    assert "Not meaningful" not in "\n".join(METRICS["fvd"].section({"fvd": {**row, "sequences": 2000}}, {}))
