"""Evaluation figures: per-frame latent layouts, the manifold grid's decoded frames, judge-over-time, files written."""
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from evaluation.figures import (
    judged_classes_over_time, manifold_grid, project_2d, save_generation_grid, save_gif, save_judge_over_time,
    save_latent_trajectories, save_manifold_grid, save_swap_grid, swap_grid,
)
from evaluation.judges import Judge
from guides.frame_gaussian import FrameGaussianGuide
from inference.anneal import SiteGroups
from inference.latents import posterior_means, reconstruct, swap
from guides.deterministic_dynamics import GlobalDynamicsFactorisedGuide
from models.deterministic_dynamics import LSTMF
from models.hierarchical_vae import HierarchicalVAE
from tests.conftest import FRAME, SEQ_LEN, MovingSquares, tiny_guide, tiny_model


def squares(count: int = 4) -> torch.Tensor:
    return MovingSquares(count).x


def test_manifold_grid_decodes_the_fixed_static_with_grid_points():
    model = tiny_model()
    guide = tiny_guide(model)
    groups = SiteGroups.of(model)
    x = squares(6)
    grid = manifold_grid(model, guide, groups, x, rows=3)
    assert grid.shape == (3, SEQ_LEN, *FRAME)
    f0 = posterior_means(guide, x[:1])["f"]
    # every frame comes from the decoder on [f of sequence 0, one z]: decoding the same f with a different z differs
    assert not torch.allclose(grid[0, 0], grid[0, -1]) and not torch.allclose(grid[0, 0], grid[-1, 0])
    # the grid's centre row and column pass through the mean encoded z; rebuild one corner frame by hand
    zs = torch.stack([posterior_means(guide, x)[f"z_{t}"] for t in range(1, SEQ_LEN + 1)], 1).reshape(-1, 3)
    centre = zs.mean(0)
    _, singular, directions = torch.linalg.svd(zs - centre, full_matrices=False)
    spread = singular[:2] / (len(zs) - 1) ** 0.5
    corner = centre - 2 * spread[0] * directions[0] + 2 * spread[1] * directions[1]
    expected = torch.sigmoid(model.decode(f0, corner.view(1, 1, 3)))[0, 0]
    assert torch.allclose(grid[0, 0], expected, atol=1e-5)


def test_manifold_grid_refuses_a_model_without_per_frame_motion():
    model = LSTMF(FRAME, SEQ_LEN, static_dim=4, dynamics_dim=3, hidden_dim=8, width=4)
    guide = GlobalDynamicsFactorisedGuide(model, feature_dim=8, hidden_dim=8, width=4)
    with pytest.raises(ValueError, match="no per-frame motion latent"):
        manifold_grid(model, guide, SiteGroups.of(model), squares(3))


class ClassFromBrightness(Judge):
    """A judge whose frame class is the mean-brightness tercile and whose sequence class is constant."""

    heads = {"brightness": 3, "action": 2}
    levels = {"brightness": "frame", "action": "sequence"}
    static_heads = ("brightness",)
    motion_heads = ("action",)

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))

    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        level = (x.mean((-3, -2, -1)) * 30).long().clamp(0, 2)
        return {"brightness": nn.functional.one_hot(level, 3).float(), "action": torch.tensor([1.0, 0.0]).expand(x.shape[0], 2)}


def test_judged_classes_over_time_shapes_and_stability(tmp_path):
    model = tiny_model()
    groups = SiteGroups.of(model)
    classes = judged_classes_over_time(model, groups, ClassFromBrightness(), ("static",), repeats=2, per_repeat=3, seq_len=SEQ_LEN)
    assert classes["brightness"].shape == (2, 3, SEQ_LEN) and classes["action"].shape == (2, 3, SEQ_LEN)
    stable = save_judge_over_time(model, groups, ClassFromBrightness(), SEQ_LEN, tmp_path / "judge.png", repeats=2, per_repeat=3)
    assert stable["shared static"]["action"] == 1.0  # the constant sequence head never changes class
    assert (tmp_path / "judge.png").stat().st_size > 0


@pytest.mark.parametrize("kind", ["dsa", "hierarchical_vae"])
def test_trajectory_and_generation_figures_are_written(kind, tmp_path):
    if kind == "dsa":
        model = tiny_model()
        guide = tiny_guide(model, "full")
    else:
        model = HierarchicalVAE(FRAME, SEQ_LEN, decoder_widths=(8, 4), hidden_dim=16)
        guide = FrameGaussianGuide(model, feature_dim=16, hidden_dim=8, width=4)
    groups = SiteGroups.of(model)
    x = squares(3)
    save_latent_trajectories(guide, groups, x, tmp_path / "trajectories.png")
    save_generation_grid(model, guide, groups, x[:2], tmp_path / "generation.png", draws=2)
    save_manifold_grid(model, guide, groups, x, tmp_path / "manifold.png")
    for name in ("trajectories", "generation", "manifold"):
        assert Image.open(tmp_path / f"{name}.png").size[0] > 100


def test_project_2d_keeps_low_dimensional_points_and_centres_the_rest():
    assert project_2d(np.ones((3, 1))).shape == (3, 2)
    projected = project_2d(np.random.default_rng(0).normal(size=(20, 5)))
    assert projected.shape == (20, 2) and np.allclose(projected.mean(0), 0)


def test_gif_has_one_frame_per_time_step(tmp_path):
    video = torch.rand(SEQ_LEN, 3, 16, 16)
    save_gif([("a", video), ("b", video[:, :1].expand(-1, 3, -1, -1))], tmp_path / "v.gif")
    gif = Image.open(tmp_path / "v.gif")
    assert gif.n_frames == SEQ_LEN and gif.size == (2 * (32 + 4), 32 + 12)


def test_swap_grid_rows_keep_content_columns_keep_motion_and_diagonal_reconstructs(tmp_path):
    model = tiny_model()
    guide, groups = tiny_guide(model), SiteGroups.of(model)
    x = torch.stack([MovingSquares(3)[i]["x"] for i in range(3)])
    cells = swap_grid(model, guide, groups, x)
    assert cells.shape == (3, 3, *x.shape[1:])
    assert torch.allclose(cells[1, 1], reconstruct(model, guide, x[1:2])[0], atol=1e-5)
    assert torch.allclose(cells[0, 2], swap(model, guide, groups, x[:1], x[2:3])[0], atol=1e-5)  # content 0, motion 2
    assert not torch.allclose(cells[0, 2], cells[2, 0])
    save_swap_grid(model, guide, groups, x, tmp_path / "grid.png", tmp_path / "grid.gif")
    assert Image.open(tmp_path / "grid.gif").n_frames == SEQ_LEN and Image.open(tmp_path / "grid.png").size[0] > 4 * 16 * 3
