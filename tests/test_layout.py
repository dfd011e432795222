"""Declared latent layouts (inference/layout.py): how a group's sites map to frames, checked against traces in
``check_pair`` and read by the protocols, the imputation and the figures."""
from __future__ import annotations

import pytest
import torch

from inference.anneal import SiteGroups
from inference.build import check_pair
from inference.errors import ConfigError
from inference.layout import check_layouts, from_per_frame, infer_layout, layout_problem, per_frame, sequence_embedding
from models import MODELS
from tests.conftest import FRAME, SEQ_LEN, tiny_guide, tiny_model


def test_every_registered_model_declares_a_layout_for_each_group() -> None:
    for name, cls in MODELS.items():
        check_layouts(cls.latent_layout, cls.latent_groups, name)  # raises on a missing group or an unknown layout


def test_steps_are_stacked_in_time_order_not_name_order() -> None:
    steps = {f"z_{t}": torch.full((2, 3), float(t)) for t in (10, 2, 1, 3, 4, 5, 6, 7, 8, 9)}  # z_10 first, as a dict may hold it
    stacked = per_frame("steps", steps, 10)
    assert stacked.shape == (2, 10, 3) and stacked[0, :, 0].tolist() == list(range(1, 11))
    back = from_per_frame("steps", steps, stacked)
    assert all(torch.equal(back[name], value) for name, value in steps.items())


def test_a_square_frames_last_block_is_read_as_declared() -> None:
    h = torch.arange(2 * 4 * 4, dtype=torch.float).reshape(2, 4, 4)  # (B, features, frames) with features == frames
    assert infer_layout({"h": h}, 4) == "frames"  # the shapes alone cannot tell: that is why models declare it
    by_frame = per_frame("frames_last", {"h": h}, 4)
    assert torch.equal(by_frame, h.transpose(1, 2)) and torch.equal(from_per_frame("frames_last", {"h": h}, by_frame)["h"], h)
    assert torch.equal(sequence_embedding("frames_last", {"h": h}, 4, "mean"), h.mean(2))


def test_per_sequence_values_repeat_over_frames_and_do_not_invert() -> None:
    f = torch.randn(2, 6)
    repeated = per_frame("sequence", {"f": f}, 4)
    assert repeated.shape == (2, 4, 6) and torch.equal(repeated[:, 0], repeated[:, 3])
    assert from_per_frame("sequence", {"f": f}, repeated) is None
    assert torch.equal(sequence_embedding("sequence", {"f": f}, 4, "flatten"), f)
    z = torch.randn(2, 4, 3)
    assert torch.equal(sequence_embedding("frames", {"z": z}, 4, "flatten"), z.reshape(2, 12))


@pytest.mark.parametrize("layout, sites, wrong", [
    ("steps", {"z_1": torch.zeros(2, 3), "z_2": torch.zeros(2, 3)}, True),  # 2 of 4 steps
    ("steps", {f"z_{t}": torch.zeros(2, 3) for t in range(1, 5)}, False),
    ("frames", {"z": torch.zeros(2, 4, 3)}, False),
    ("frames", {"z": torch.zeros(2, 3, 4)}, True),
    ("frames_last", {"h": torch.zeros(2, 3, 4)}, False),
    ("sequence", {"f": torch.zeros(2, 5)}, False),
])
def test_layout_problems_name_the_traced_shapes(layout: str, sites: dict, wrong: bool) -> None:
    problem = layout_problem(layout, sites, 4)
    assert (problem is not None) == wrong and (not wrong or "traced" in problem)


def test_check_pair_refuses_a_model_whose_declaration_does_not_fit_its_trace() -> None:
    model = tiny_model()
    guide = tiny_guide(model)
    x = torch.rand(2, SEQ_LEN, *FRAME)
    check_pair(model, guide, x)
    model.latent_layout = {"static": "sequence", "dynamics": "frames"}  # DSA's z_1:T are steps, not one block
    with pytest.raises(ConfigError, match="latent group 'dynamics': declared frames"):
        check_pair(model, guide, x)
    model.latent_layout = {"static": "sequence"}
    with pytest.raises(ConfigError, match="latent_layout names groups \\['static'\\], latent_groups are \\['dynamics', 'static'\\]"):
        check_pair(model, guide, x)


def test_site_groups_carry_the_model_declaration() -> None:
    groups = SiteGroups.of(tiny_model())
    assert groups.layout("static") == "sequence" and groups.layout("dynamics") == "steps"
    assert SiteGroups({"static": "f"}).layout("static") is None  # undeclared: inferred from values by the helpers
