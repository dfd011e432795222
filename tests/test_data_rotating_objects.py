"""Tests of the rotating-objects substitute for G&W's rotating chairs (data/rotating_objects.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from data.errors import DataError
from data.rotating_objects import (
    FACING_BINS, RotatingObjectsDataset, facing_sector, generate_split, hit_box, hit_cylinder, rotation,
)

CONF = Path(__file__).resolve().parents[1] / "conf" / "data" / "rotating_objects.yaml"
DOWN = np.array([[0.0, 0.0, -1.0]])


@pytest.fixture(scope="module")
def tiny() -> dict[str, np.ndarray]:
    return generate_split("test", objects=2, per_object=2, seq_len=4, seed=0)


def test_rays_meet_a_box_and_a_cylinder_where_the_geometry_says():
    distance, normal = hit_box(np.array([[0.0, 0.0, 4.0], [2.0, 0.0, 4.0]]), np.repeat(DOWN, 2, 0), np.zeros(3), np.full(3, 0.5))
    assert distance[0] == pytest.approx(3.5) and np.allclose(normal[0], [0, 0, 1]) and np.isinf(distance[1])
    side, side_normal = hit_cylinder(np.array([[0.0, 0.0, 4.0], [0.6, 0.0, 4.0]]), np.repeat(DOWN, 2, 0), np.zeros(3), np.array([0.5, 1.0, 0.5]))
    assert side[0] == pytest.approx(3.5) and np.allclose(side_normal[0], [0, 0, 1]) and np.isinf(side[1])  # radius 0.5: x = 0.6 misses
    cap, cap_normal = hit_cylinder(np.array([[0.1, 4.0, 0.0]]), np.array([[0.0, -1.0, 0.0]]), np.zeros(3), np.array([0.5, 1.0, 0.5]))
    assert cap[0] == pytest.approx(3.0) and np.allclose(cap_normal[0], [0, 1, 0])  # the top cap at y = 1


def test_rotations_are_proper_and_turn_counter_clockwise():
    axis = np.array([1.0, 2.0, 2.0]) / 3
    turn = rotation(axis, 0.7)
    assert np.allclose(turn @ turn.T, np.eye(3)) and np.linalg.det(turn) == pytest.approx(1.0) and np.allclose(turn @ axis, axis)
    assert np.allclose(rotation(np.array([0.0, 0.0, 1.0]), np.pi / 2) @ [1, 0, 0], [0, 1, 0])


def test_facing_is_the_sector_of_the_seat_front_in_the_image_plane():
    assert facing_sector(rotation(np.array([0.0, 1.0, 0.0]), np.pi / 2)) == 0  # front turned to +x (screen right)
    assert facing_sector(rotation(np.array([1.0, 0.0, 0.0]), -np.pi / 2)) == 2  # front turned to +y (screen up)
    assert facing_sector(rotation(np.array([0.0, 1.0, 0.0]), -np.pi / 2)) == 4  # screen left


def test_a_split_has_its_labels_and_every_object_stays_inside_the_frame(tiny):
    frames = tiny["frames"]
    assert frames.shape == (4, 4, 64, 64, 3) and frames.dtype == np.uint8
    assert np.array_equal(tiny["object"], [0, 0, 1, 1]) and np.array_equal(tiny["style"], 2 * tiny["leg_type"] + tiny["arms"])
    assert tiny["facing"].shape == (4, 4) and tiny["facing"].min() >= 0 and tiny["facing"].max() < FACING_BINS
    assert np.allclose(np.linalg.norm(tiny["axis"], axis=1), 1) and np.allclose(tiny["angle"], tiny["speed"][:, None] * np.arange(4))
    border = np.concatenate([frames[:, :, 0], frames[:, :, -1], frames[:, :, :, 0], frames[:, :, :, -1]], axis=2)
    assert border.max() == 0  # FIT_RADIUS keeps every orientation inside the frame
    assert ((frames.max(-1) > 0).sum((-1, -2)) > 100).all()  # and every frame shows the object
    assert not np.array_equal(frames[:, 0], frames[:, 1])  # it turns


def test_an_object_keeps_its_shape_across_its_sequences_and_splits_never_share_one(tiny):
    assert np.array_equal(tiny["shape"][0], tiny["shape"][1]) and not np.array_equal(tiny["shape"][0], tiny["shape"][2])
    assert not np.allclose(tiny["axis"][0], tiny["axis"][1])  # a new axis per sequence
    train = generate_split("train", objects=2, per_object=2, seq_len=4, seed=0)
    assert not np.isin(train["shape"], tiny["shape"]).any()
    again = generate_split("test", objects=2, per_object=2, seq_len=4, seed=0)
    assert all(np.array_equal(again[key], tiny[key]) for key in tiny)


def test_the_data_config_builds_the_data_set_and_bad_options_are_one_line_errors(tmp_path):
    cfg = OmegaConf.load(CONF)
    cfg.cache_dir, cfg.objects, cfg.seq_len = str(tmp_path), 2, 3
    dataset = instantiate(cfg, split="test")
    item = dataset[3]
    assert len(dataset) == 4 and tuple(item["x"].shape) == (3, 3, 64, 64) and 0 <= float(item["x"].min()) <= float(item["x"].max()) <= 1
    assert int(item["object"]) == 1 and tuple(item["facing"].shape) == (3,)
    for options, message in (({"split": "val"}, "unknown split 'val'"), ({"split": "train", "objects": 0}, "objects must be an int"),
                             ({"split": "train", "sequences_per_object": True}, "sequences_per_object must be an int")):
        with pytest.raises(DataError, match=message):
            RotatingObjectsDataset(cache_dir=tmp_path, **options)
