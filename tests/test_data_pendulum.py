"""Tests of the VDSM §4 swinging pendula data set (data/pendulum.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

import data
from data import pendulum
from data.errors import DataError
from data.pendulum import COLOURS, PendulumDataset, generate_split

CONF = Path(__file__).resolve().parents[1] / "conf" / "data"
SMALL = {"sequences_per_combination": 3, "test_fraction": 1 / 3}  # 2 train + 1 test per colour x speed


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("seqzoo-cache")


@pytest.fixture(scope="module")
def train(cache_dir: Path) -> PendulumDataset:
    return PendulumDataset("train", cache_dir=cache_dir, **SMALL)


@pytest.fixture(scope="module")
def test_split(cache_dir: Path) -> PendulumDataset:
    return PendulumDataset("test", cache_dir=cache_dir, **SMALL)


@pytest.fixture(scope="module")
def long_train(cache_dir: Path) -> PendulumDataset:
    return PendulumDataset("train", seq_len=40, cache_dir=cache_dir, **SMALL)


def bob_pixels(frame: np.ndarray, colour: int) -> np.ndarray:
    """Return the (x, y) centres (K, 2) of the pixels of a frame that carry exactly a colour class's RGB."""
    rows, cols = np.nonzero(np.all(frame == COLOURS[colour], axis=-1))
    return np.stack([cols + 0.5, rows + 0.5], axis=1)


def measured_angles(dataset: PendulumDataset) -> np.ndarray:
    """Return the angle (N, T) of every bob's pixel centroid as seen from the pivot."""
    frames, colours = np.asarray(dataset.frames), dataset.labels["colour"]
    angles = np.empty(frames.shape[:2])
    for i, (sequence, colour) in enumerate(zip(frames, colours)):
        for t, frame in enumerate(sequence):
            x, y = bob_pixels(frame, int(colour)).mean(axis=0) - pendulum.PIVOT
            angles[i, t] = np.arctan2(x, y)
    return angles


def test_item_format(train: PendulumDataset, long_train: PendulumDataset) -> None:
    assert len(train) == 28 and train.frame_shape == (3, 64, 64) and train.seq_len == 16
    assert train.frames.dtype == np.uint8 and train.frames.shape == (28, 16, 64, 64, 3)
    item = train[5]
    assert set(item) == {"x", "colour", "speed", "angle"}
    assert item["x"].dtype == torch.float32 and item["x"].shape == (16, 3, 64, 64)
    assert 0.0 <= item["x"].min() and item["x"].max() <= 1.0
    assert torch.allclose(item["x"] * 255, torch.round(item["x"] * 255), atol=1e-4)
    assert item["colour"].dtype == torch.long and item["speed"].dtype == torch.long and item["colour"].shape == ()
    assert item["angle"].dtype == torch.float32 and item["angle"].shape == (16,)
    assert long_train.seq_len == 40 and long_train[0]["x"].shape == (40, 3, 64, 64)
    assert train.labels_info["colour"]["num_classes"] == 7 and train.labels_info["speed"]["names"] == ("slow", "fast")
    angle = np.asarray(long_train.labels["angle"])
    assert np.abs(angle).max() <= np.deg2rad(45.0) + 1e-5 and np.abs(angle).max(axis=1).min() >= np.deg2rad(15.0) - 0.1


def test_every_combination_in_both_splits(train: PendulumDataset, test_split: PendulumDataset) -> None:
    for dataset, count in ((train, 2), (test_split, 1)):
        pairs = list(zip(dataset.labels["colour"].tolist(), dataset.labels["speed"].tolist()))
        assert sorted(set(pairs)) == [(c, s) for c in range(7) for s in range(2)]
        assert all(pairs.count(pair) == count for pair in set(pairs))
    assert pendulum.split_indices("test", 100, 0.1).tolist() == list(range(90, 100))
    assert pendulum.split_indices("train", 100, 0.1).tolist() == list(range(90))


def test_bob_colour_and_position_agree_with_labels(train: PendulumDataset, test_split: PendulumDataset) -> None:
    for dataset in (train, test_split):
        frames = np.asarray(dataset.frames)
        for sequence, colour in zip(frames, dataset.labels["colour"]):
            others = [c for c in range(7) if c != colour]
            for frame in sequence:
                assert 69 <= len(bob_pixels(frame, int(colour))) <= 89  # disc of radius 5: ~78.5 px
                assert all(len(bob_pixels(frame, c)) == 0 for c in others)
                assert tuple(frame[12, 32]) == pendulum.PIVOT_COLOUR and tuple(frame[0, 0]) == pendulum.BACKGROUND
        np.testing.assert_allclose(measured_angles(dataset), dataset.labels["angle"], atol=0.015)


def test_fast_pendula_swing_more_often(long_train: PendulumDataset) -> None:
    angle = measured_angles(long_train)
    sign = np.sign(angle)
    crossings = np.array([np.count_nonzero(np.diff(s[s != 0])) for s in sign])
    speed = long_train.labels["speed"]
    assert crossings[speed == 1].min() > crossings[speed == 0].max()
    assert crossings[speed == 0].min() >= 4 and crossings[speed == 1].min() >= 8  # >= 2 and 4 periods in 40 frames


@pytest.mark.parametrize("speed", [0, 1])
def test_integrator_returns_after_one_exact_period(speed: int) -> None:
    amplitude = np.deg2rad(np.array([15.0, 30.0, 45.0]))
    period = pendulum.period(amplitude, speed)
    assert np.all(period > pendulum.SMALL_ANGLE_PERIOD[speed]) and np.all(np.diff(period) > 0)
    start = np.stack([amplitude, np.zeros(3)], axis=1)
    half = pendulum.integrate(start, period / 2, pendulum.squared_frequency(speed))
    full = pendulum.integrate(start, period, pendulum.squared_frequency(speed))
    np.testing.assert_allclose(half[:, 0], -amplitude, atol=1e-5)
    np.testing.assert_allclose(full, start, atol=1e-5)


def test_longer_sequences_extend_the_shorter_ones(train: PendulumDataset, long_train: PendulumDataset) -> None:
    np.testing.assert_array_equal(long_train.frames[:, :16], train.frames)
    np.testing.assert_array_equal(long_train.labels["angle"][:, :16], train.labels["angle"])


def test_deterministic_and_seeded() -> None:
    first = generate_split("test", 2, 0.5, 4, seed=0)
    again = generate_split("test", 2, 0.5, 4, seed=0)
    other = generate_split("test", 2, 0.5, 4, seed=1)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first["angle"], other["angle"]) and not np.array_equal(first["frames"], other["frames"])


def test_splits_are_disjoint(train: PendulumDataset, test_split: PendulumDataset) -> None:
    train_angles = {tuple(a) for a in np.asarray(train.labels["angle"])}
    assert not train_angles & {tuple(a) for a in np.asarray(test_split.labels["angle"])}
    for sequence in test_split.frames:
        assert not any(np.array_equal(sequence, other) for other in train.frames)


def test_cached_split_is_not_regenerated(
    train: PendulumDataset, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("regenerated")

    monkeypatch.setattr(pendulum, "generate_split", fail)
    again = PendulumDataset("train", cache_dir=cache_dir, **SMALL)
    np.testing.assert_array_equal(again.frames, train.frames)
    with pytest.raises(AssertionError, match="regenerated"):
        PendulumDataset("train", seed=3, cache_dir=cache_dir, **SMALL)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"split": "valid"}, "unknown split 'valid'; valid: train, test"),
        ({"split": "train", "sequences_per_combination": 1}, r"sequences_per_combination must be an int in \[2, "),
        ({"split": "train", "sequences_per_combination": 2.0}, "sequences_per_combination must be an int"),
        ({"split": "train", "test_fraction": 0}, r"test_fraction must be a number in \(0, 1\)"),
        ({"split": "train", "test_fraction": 1.0}, "test_fraction must be a number"),
        ({"split": "train", "test_fraction": "0.1"}, "test_fraction must be a number"),
        ({"split": "train", "seq_len": 0}, r"seq_len must be an int in \[1, "),
        ({"split": "test", "seed": True}, "seed must be an int"),
    ],
)
def test_bad_arguments_raise_one_line_errors(kwargs: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=message) as info:
        PendulumDataset(cache_dir=tmp_path, **kwargs)
    assert "\n" not in str(info.value)


def test_registry_and_config(cache_dir: Path) -> None:
    assert data.DATASETS["pendulum"] is PendulumDataset
    cfg = OmegaConf.load(CONF / "pendulum.yaml")
    cfg.cache_dir, cfg.sequences_per_combination, cfg.seq_len = str(cache_dir), 2, 3
    built = instantiate(cfg, split="test")
    assert isinstance(built, PendulumDataset) and len(built) == 14 and built[0]["x"].shape == (3, 3, 64, 64)
