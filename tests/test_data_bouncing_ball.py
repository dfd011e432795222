"""Tests of the DSA §4.3 bouncing ball / square data set (data/bouncing_ball.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

import data
from data import bouncing_ball
from data.bouncing_ball import BouncingBallDataset, generate_split, polygon_edges, wall_clearance
from data.errors import DataError

CONF = Path(__file__).resolve().parents[1] / "conf" / "data"
N_TRAIN, N_TEST = 12, 6


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("seqzoo-cache")


@pytest.fixture(scope="module", params=["ball", "square"])
def splits(request: pytest.FixtureRequest, cache_dir: Path) -> dict[str, BouncingBallDataset]:
    sizes = {"train_sequences": N_TRAIN, "test_sequences": N_TEST, "cache_dir": cache_dir}
    return {split: BouncingBallDataset(split, shape=request.param, **sizes) for split in ("train", "test")}


def pixel_centres(frame: np.ndarray) -> np.ndarray:
    """Return the (x, y) centres (K, 2) of the lit pixels of a (32, 32, 1) frame."""
    rows, cols = np.nonzero(frame[..., 0])
    return np.stack([cols + 0.5, rows + 0.5], axis=1)


def test_item_format(splits: dict[str, BouncingBallDataset]) -> None:
    train = splits["train"]
    assert len(train) == N_TRAIN and len(splits["test"]) == N_TEST
    assert train.frame_shape == (1, 32, 32) and train.seq_len == 30 and train.pixel_scale == 1.0
    assert train.frames.dtype == np.uint8 and train.frames.shape == (N_TRAIN, 30, 32, 32, 1)
    assert set(np.unique(train.frames)) == {0, 1}
    item = train[3]
    assert set(item) == {"x", "position", "velocity", "shape"}
    assert item["x"].dtype == torch.float32 and item["x"].shape == (30, 1, 32, 32)
    assert set(torch.unique(item["x"]).tolist()) == {0.0, 1.0}
    assert item["position"].dtype == torch.float32 and item["position"].shape == (30, 2)
    assert item["velocity"].dtype == torch.float32 and item["velocity"].shape == (30, 2)
    assert item["shape"].dtype == torch.long and item["shape"].shape == ()
    assert item["shape"] == bouncing_ball.SHAPES.index(train.shape)
    assert train.labels_info["shape"]["names"] == ("ball", "square")
    batch = next(iter(torch.utils.data.DataLoader(train, batch_size=4)))
    assert batch["x"].shape == (4, 30, 1, 32, 32) and batch["position"].shape == (4, 30, 2)


def test_pixels_agree_with_labelled_position(splits: dict[str, BouncingBallDataset]) -> None:
    for dataset in splits.values():
        for frames, positions in zip(dataset.frames, dataset.labels["position"]):
            for frame, position in zip(frames, positions):
                centres = pixel_centres(frame)
                assert np.abs(centres.mean(axis=0) - position).max() < 0.5
                reach = np.abs(centres - position)
                if dataset.shape == "ball":
                    assert len(centres) >= 24 and np.hypot(*reach.T).max() <= 3.0
                else:  # axis-aligned filled 6 x 6 square (7 wide only when a pixel centre is exactly on an edge)
                    width, height = np.ptp(centres, axis=0) + 1
                    assert len(centres) == width * height and {width, height} <= {6, 7} and reach.max() <= 3.0


def test_speed_is_conserved_and_motion_is_free_between_bounces(splits: dict[str, BouncingBallDataset]) -> None:
    bounces = 0
    for dataset in splits.values():
        velocity = np.asarray(dataset.labels["velocity"], dtype=np.float64)
        position = np.asarray(dataset.labels["position"], dtype=np.float64)
        speed = np.linalg.norm(velocity, axis=-1)
        assert np.all((speed >= 10.0 - 1e-4) & (speed <= 15.0 + 1e-4))
        np.testing.assert_allclose(speed, speed[:, :1].repeat(speed.shape[1], axis=1), rtol=1e-5)
        free = np.all(np.abs(np.diff(velocity, axis=1)) < 1e-6, axis=-1)  # no bounce between t and t + 1
        step = np.diff(position, axis=1)
        np.testing.assert_allclose(step[free], 0.2 * velocity[:, :-1][free], atol=1e-4)
        bounces += int((~free).sum())
    assert bounces >= 10  # the test sizes do exercise collisions


def test_object_never_leaves_the_polygon(splits: dict[str, BouncingBallDataset]) -> None:
    start, normal = polygon_edges()
    for dataset in splits.values():
        clearance = wall_clearance(dataset.shape, np.asarray(dataset.labels["position"], dtype=np.float64))
        assert clearance.min() >= -bouncing_ball.MAX_OVERLAP - 1e-6
        assert np.any(clearance < 0.5)  # it does get close to the walls
        rows, cols = np.nonzero(np.asarray(dataset.frames)[..., 0].any(axis=(0, 1)))
        lit = np.stack([cols + 0.5, rows + 0.5], axis=1)
        assert np.einsum("ed,ked->ke", normal, lit[:, None] - start).min() >= -bouncing_ball.MAX_OVERLAP


def test_polygon_is_convex_and_inside_frame() -> None:
    start, normal = polygon_edges()
    corners = np.array(bouncing_ball.POLYGON)
    assert np.all(np.einsum("ed,ked->ke", normal, corners[:, None] - start) >= -1e-12)
    assert corners.min() > 0 and corners.max() < 32 and len(set(bouncing_ball.POLYGON)) == 6


def test_square_never_rotates() -> None:
    space, body = bouncing_ball._build_space("square", np.array([16.0, 16.0]), np.array([14.0, 3.0]))
    speeds = []
    for _ in range(2000):  # 8 time units: several bounces
        space.step(0.004)
        speeds.append(np.hypot(*body.velocity))
    assert body.moment == float("inf") and body.angle == 0.0 and body.angular_velocity == 0.0
    assert body.velocity.x != 14.0 and np.allclose(speeds, np.hypot(14.0, 3.0), rtol=1e-7)


def test_deterministic_and_seeded() -> None:
    first = generate_split("train", 3, "ball", 10, seed=0)
    again = generate_split("train", 3, "ball", 10, seed=0)
    other = generate_split("train", 3, "ball", 10, seed=1)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first["position"], other["position"])
    assert not np.array_equal(first["frames"], other["frames"])


def test_splits_are_disjoint_and_subsets_are_prefixes(splits: dict[str, BouncingBallDataset], cache_dir: Path) -> None:
    train, test = splits["train"], splits["test"]
    train_starts = {tuple(p) for p in np.asarray(train.labels["position"])[:, 0]}
    assert not train_starts & {tuple(p) for p in np.asarray(test.labels["position"])[:, 0]}
    for sequence in test.frames:
        assert not any(np.array_equal(sequence, other) for other in train.frames)
    smaller = BouncingBallDataset("train", shape=train.shape, train_sequences=5, seq_len=12, cache_dir=cache_dir)
    np.testing.assert_array_equal(smaller.frames, train.frames[:5, :12])
    np.testing.assert_array_equal(smaller.labels["position"], train.labels["position"][:5, :12])


def test_cached_split_is_not_regenerated(
    splits: dict[str, BouncingBallDataset], cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("regenerated")

    monkeypatch.setattr(bouncing_ball, "generate_split", fail)
    shape = splits["train"].shape
    sizes = {"train_sequences": N_TRAIN, "test_sequences": N_TEST}
    again = BouncingBallDataset("train", shape=shape, cache_dir=cache_dir, **sizes)
    np.testing.assert_array_equal(again.frames, splits["train"].frames)
    with pytest.raises(AssertionError, match="regenerated"):
        BouncingBallDataset("train", shape=shape, train_sequences=N_TRAIN, seed=7, cache_dir=cache_dir)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"split": "valid"}, "unknown split 'valid'; valid: train, test"),
        ({"split": "train", "shape": "triangle"}, "unknown shape 'triangle'; valid: ball, square"),
        ({"split": "train", "train_sequences": 0}, r"train_sequences must be an int in \[1, "),
        ({"split": "train", "train_sequences": 2.5}, "train_sequences must be an int"),
        ({"split": "test", "test_sequences": True}, "test_sequences must be an int"),
        ({"split": "train", "seq_len": 0}, r"seq_len must be an int in \[1, "),
        ({"split": "train", "seed": -1}, "seed must be an int"),
    ],
)
def test_bad_arguments_raise_one_line_errors(kwargs: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=message) as info:
        BouncingBallDataset(cache_dir=tmp_path, **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("config, shape", [("bouncing_ball", 0), ("bouncing_square", 1)])
def test_registry_and_configs(config: str, shape: int, cache_dir: Path) -> None:
    assert data.DATASETS["bouncing_ball"] is BouncingBallDataset
    cfg = OmegaConf.load(CONF / f"{config}.yaml")
    cfg.cache_dir, cfg.train_sequences, cfg.test_sequences = str(cache_dir), 2, 2
    built = instantiate(cfg, split="test")
    assert isinstance(built, BouncingBallDataset) and len(built) == 2 and built[0]["shape"] == shape
