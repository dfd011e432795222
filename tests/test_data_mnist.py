"""Tests of the vendored MNIST reader, Moving MNIST with labels and Bouncing MNIST."""

from __future__ import annotations

import hashlib
import io
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

import data
from data import bouncing_mnist, mnist, moving_mnist
from data.bouncing_mnist import BouncingMNISTDataset
from data.errors import DataError
from data.moving_mnist import MovingMNISTDataset

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw" / "mnist"
LIMIT = 64 - 28


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("seqzoo-cache")


@pytest.fixture(scope="module")
def mnist_sets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {split: mnist.load_digits(split) for split in ("train", "test")}


@pytest.fixture(scope="module")
def two_digits(cache_dir: Path) -> dict[str, MovingMNISTDataset]:
    kwargs = {"num_digits": 2, "seq_len": 20, "train_sequences": 60, "test_sequences": 40, "cache_dir": cache_dir}
    return {split: MovingMNISTDataset(split, **kwargs) for split in ("train", "test")}


@pytest.fixture(scope="module")
def bouncing(cache_dir: Path) -> dict[str, BouncingMNISTDataset]:
    kwargs = {"train_sequences": 50, "test_sequences": 30, "cache_dir": cache_dir}
    return {split: BouncingMNISTDataset(split, **kwargs) for split in ("train", "test")}


# ---------------------------------------------------------------- MNIST reader


def test_vendored_files_match_sha256sums() -> None:
    listed = dict(line.split()[::-1] for line in (RAW / "SHA256SUMS").read_text().splitlines())
    assert sorted(listed) == sorted(mnist.FILES.values())
    for name, digest in listed.items():
        assert hashlib.sha256((RAW / name).read_bytes()).hexdigest() == digest
    assert listed["train-images-idx3-ubyte.gz"] == "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
    assert (RAW / "LICENSE-CC-BY-SA-3.0.txt").is_file() and "LeCun" in (RAW / "README.md").read_text()


def test_idx_reader_known_facts(mnist_sets: dict) -> None:
    train_images, train_labels = mnist_sets["train"]
    test_images, test_labels = mnist_sets["test"]
    assert train_images.shape == (60000, 28, 28) and train_images.dtype == np.uint8
    assert test_images.shape == (10000, 28, 28) and test_labels.shape == (10000,)
    assert train_labels.dtype == np.int64 and train_labels[0] == 5 and test_labels[0] == 7
    assert np.bincount(train_labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert train_images.max() == 255 and train_images[:, 0, 0].max() == 0  # ink is bright on black
    assert not train_images.flags.writeable  # the in-process copy is shared; nobody may change it


def test_parse_idx_handles_header_and_rejects_garbage() -> None:
    values = np.arange(6, dtype=">i4").reshape(2, 3)
    payload = bytes([0, 0, 0x0C, 2]) + struct.pack(">2i", 2, 3) + values.tobytes()
    parsed = mnist.parse_idx(payload)
    assert parsed.shape == (2, 3) and parsed.dtype == np.int32 and parsed.tolist() == values.tolist()
    with pytest.raises(DataError, match="bad magic"):
        mnist.parse_idx(b"\x01\x00\x08\x01" + struct.pack(">i", 1) + b"\x00")
    with pytest.raises(DataError, match="does not match its header"):
        mnist.parse_idx(payload[:-1])


@pytest.fixture()
def raw_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "raw"
    shutil.copytree(RAW, copy)
    return copy


def test_missing_raw_file_is_a_clear_error(raw_copy: Path, tmp_path: Path) -> None:
    (raw_copy / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"missing MNIST file .*t10k-labels-idx1-ubyte\.gz") as info:
        mnist.load_digits("test", raw_dir=raw_copy)
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="missing MNIST file"):
        MovingMNISTDataset("test", test_sequences=2, cache_dir=tmp_path / "cache", raw_dir=raw_copy)


def test_altered_raw_file_fails_checksum(raw_copy: Path, tmp_path: Path) -> None:
    path = raw_copy / "train-labels-idx1-ubyte.gz"
    payload = bytearray(path.read_bytes())
    payload[100] ^= 1
    path.write_bytes(bytes(payload))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz fails its SHA256SUMS check"):
        mnist.load_digits("train", raw_dir=raw_copy)
    with pytest.raises(DataError, match="fails its SHA256SUMS check"):
        BouncingMNISTDataset("train", train_sequences=2, cache_dir=tmp_path / "cache", raw_dir=raw_copy)


def test_missing_checksum_list_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mnist, "RAW_DIR", tmp_path)
    with pytest.raises(DataError, match="missing .*SHA256SUMS"):
        mnist.load_digits("test", raw_dir=RAW)


class FakeResponse(io.BytesIO):
    """A urlopen result: a readable context manager."""

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fake_network(monkeypatch: pytest.MonkeyPatch, serve: dict[str, bytes | Exception]) -> list[str]:
    """Replace the network (urllib's urlopen, which data/raw_files.py calls) by a dict of URL -> body (or exception);
    return the requested URLs."""
    requested: list[str] = []

    def urlopen(url: str, timeout: float = 0) -> FakeResponse:
        requested.append(url)
        body = serve.get(url, OSError(f"no route to {url}"))
        if isinstance(body, Exception):
            raise body
        return FakeResponse(body)

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    return requested


def test_download_verifies_against_our_checksums(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = mnist.MIRRORS
    names = list(mnist.FILES.values())
    serve: dict[str, bytes | Exception] = {second + name: (RAW / name).read_bytes() for name in names}
    serve[first + names[0]] = b"not the real file"  # a bad copy on the first mirror is skipped
    requested = fake_network(monkeypatch, serve)
    dest = mnist.download(tmp_path / "mnist")
    for name in names:
        assert (dest / name).read_bytes() == (RAW / name).read_bytes()
    assert requested[:2] == [first + names[0], second + names[0]] and len(requested) == 8
    np.testing.assert_array_equal(mnist.load_digits("test", raw_dir=dest)[1], mnist.load_digits("test")[1])
    requested.clear()
    mnist.download(dest)  # already present and verified: no request
    assert requested == []


def test_download_rejects_wrong_bytes_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    junk = {mirror + name: b"\x1f\x8b junk" for mirror in mnist.MIRRORS for name in mnist.FILES.values()}
    fake_network(monkeypatch, junk)
    with pytest.raises(DataError, match="could not download a verified train-images-idx3-ubyte.gz: .*sha256 mismatch"):
        mnist.download(tmp_path / "mnist")
    assert not list((tmp_path / "mnist").glob("*.gz"))


def test_dataset_download_flag_uses_the_network_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = list(mnist.FILES.values())
    fake_network(monkeypatch, {mnist.MIRRORS[0] + name: (RAW / name).read_bytes() for name in names})
    kwargs = {"num_digits": 1, "seq_len": 3, "test_sequences": 2, "cache_dir": tmp_path / "c"}
    dataset = MovingMNISTDataset("test", raw_dir=tmp_path / "m", download=True, **kwargs)
    assert len(dataset) == 2 and sorted(p.name for p in (tmp_path / "m").iterdir()) == sorted(names)
    with pytest.raises(DataError, match="download=true needs raw_dir"):
        BouncingMNISTDataset("test", test_sequences=2, cache_dir=tmp_path / "c", download=True)


# ---------------------------------------------------------------- Moving MNIST


def placed(image: np.ndarray, corner: np.ndarray) -> np.ndarray:
    """A 64 x 64 canvas showing one 28 x 28 image with its top-left at corner (row, col)."""
    canvas = np.zeros((64, 64), dtype=np.uint8)
    canvas[corner[0] : corner[0] + 28, corner[1] : corner[1] + 28] = image
    return canvas


def expected_frames(images: np.ndarray, sources: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Draw frames the plain way: per sequence and frame, the maximum of the placed digits."""
    n, seq_len, num_digits, _ = positions.shape
    frames = np.zeros((n, seq_len, 64, 64), dtype=np.uint8)
    for i in range(n):
        for t in range(seq_len):
            canvases = [placed(images[sources[i, d]], positions[i, t, d]) for d in range(num_digits)]
            frames[i, t] = np.max(canvases, axis=0)
    return frames


@pytest.mark.parametrize("num_digits", [1, 2])
@pytest.mark.parametrize("split", ["train", "test"])
def test_labelled_digit_is_drawn_at_labelled_position(
    num_digits: int, split: str, cache_dir: Path, two_digits: dict, mnist_sets: dict
) -> None:
    dataset = two_digits[split] if num_digits == 2 else MovingMNISTDataset(split, 1, 10, 30, 20, cache_dir=cache_dir)
    images, labels = mnist_sets[split]
    frames = np.asarray(dataset.frames)[..., 0]
    sources, positions = dataset.labels["source_index"], dataset.labels["positions"]
    assert sources.shape == (len(dataset), num_digits)
    assert positions.shape == (len(dataset), dataset.seq_len, num_digits, 2)
    np.testing.assert_array_equal(dataset.labels["digits"], labels[sources])
    np.testing.assert_array_equal(frames, expected_frames(images, sources, positions))
    for i in range(len(dataset)):
        for t in range(dataset.seq_len):
            canvases = [placed(images[sources[i, d]], positions[i, t, d]) for d in range(num_digits)]
            for d, (r, c) in enumerate(positions[i, t]):
                crop, digit = frames[i, t, r : r + 28, c : c + 28], images[sources[i, d]]
                assert (crop >= digit).all()  # pixel-wise max never hides a digit's ink
                others = sum(canvas.astype(np.int64) for e, canvas in enumerate(canvases) if e != d)
                alone = np.broadcast_to(others == 0, (64, 64))[r : r + 28, c : c + 28]
                np.testing.assert_array_equal(crop[alone], digit[alone])  # exact where no other digit is drawn
            if num_digits == 1:
                np.testing.assert_array_equal(frames[i, t], canvases[0])  # nothing outside the box


def test_two_digits_overlap_by_maximum(two_digits: dict, mnist_sets: dict) -> None:
    dataset = two_digits["train"]
    images = mnist_sets["train"][0]
    positions, sources = dataset.labels["positions"], dataset.labels["source_index"]
    overlaps = 0
    for i, t in zip(*np.nonzero((np.abs(positions[:, :, 0] - positions[:, :, 1]) < 28).all(axis=-1))):
        a = np.zeros((64, 64), np.int64)
        b = np.zeros((64, 64), np.int64)
        (ra, ca), (rb, cb) = positions[i, t]
        a[ra : ra + 28, ca : ca + 28] = images[sources[i, 0]]
        b[rb : rb + 28, cb : cb + 28] = images[sources[i, 1]]
        both = (a > 0) & (b > 0)
        overlaps += both.sum()
        np.testing.assert_array_equal(dataset.frames[i, t, ..., 0][both], np.maximum(a, b)[both])
    assert overlaps > 0  # the small set does contain overlapping ink


def test_positions_stay_inside_and_bounce_at_walls(two_digits: dict) -> None:
    for dataset in two_digits.values():
        positions = dataset.labels["positions"]
        assert positions.min() == 0 and positions.max() == LIMIT  # reaches both walls, never leaves
        steps = np.diff(positions, axis=1)
        assert np.abs(steps).max() <= np.ceil(moving_mnist.SPEED) + 1
        tracks = positions.transpose(0, 2, 3, 1).reshape(-1, positions.shape[1])
        turns = 0
        for track in tracks:
            moving = np.nonzero(np.diff(track))[0]
            for a, b in zip(moving[:-1], moving[1:]):
                if np.sign(track[a + 1] - track[a]) != np.sign(track[b + 1] - track[b]):
                    turns += 1  # direction reverses only where the track touches a wall in between
                    assert track[a + 1 : b + 1].min() == 0 or track[a + 1 : b + 1].max() == LIMIT
        assert turns > 10


def test_simulator_reverses_velocity_exactly_at_walls() -> None:
    rng = np.random.default_rng(3)
    starts = rng.uniform(0, LIMIT, (200, 2))
    velocities = rng.uniform(-6, 6, (200, 2))
    positions, speeds = moving_mnist.simulate(starts, velocities, 40)
    assert positions.shape == speeds.shape == (40, 200, 2)
    assert positions.min() >= 0 and positions.max() <= LIMIT
    at_wall = (positions[1:] == 0) | (positions[1:] == LIMIT)
    np.testing.assert_array_equal(speeds[1:], np.where(at_wall, -speeds[:-1], speeds[:-1]))
    free = ~at_wall
    np.testing.assert_allclose(positions[1:][free], (positions[:-1] + speeds[:-1])[free])
    assert at_wall.sum() > 100 and np.abs(speeds).tolist() == np.abs(speeds[:1]).repeat(40, 0).tolist()


def test_splits_never_mix_mnist_sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marks = {"train": 100, "test": 200}
    sizes = {"train": 50, "test": 30}

    def fake_digits(split: str, raw_dir: object = None) -> tuple[np.ndarray, np.ndarray]:
        return np.full((sizes[split], 28, 28), marks[split], np.uint8), np.arange(sizes[split]) % 10

    monkeypatch.setattr(moving_mnist, "load_digits", fake_digits)
    for split, mark in marks.items():
        arrays = moving_mnist.generate(split, 40, 8, 2, seed=1)
        assert set(np.unique(arrays["frames"]).tolist()) == {0, mark}
        assert arrays["source_index"].max() < sizes[split]


def test_train_and_test_use_their_own_mnist_images(two_digits: dict, bouncing: dict, mnist_sets: dict) -> None:
    train_images, test_images = mnist_sets["train"][0], mnist_sets["test"][0]
    train_hashes = {hashlib.sha1(image.tobytes()).digest() for image in train_images}
    for dataset in (two_digits["test"], bouncing["test"]):
        sources = np.asarray(dataset.labels["source_index"]).ravel()
        assert sources.max() < 10000
        assert not {hashlib.sha1(test_images[s].tobytes()).digest() for s in sources} & train_hashes


def test_item_format(two_digits: dict) -> None:
    dataset = two_digits["train"]
    assert dataset.frame_shape == (1, 64, 64) and dataset.seq_len == 20 and len(dataset) == 60
    assert dataset.frames.dtype == np.uint8 and dataset.frames.shape == (60, 20, 64, 64, 1)
    item = dataset[3]
    assert set(item) == {"x", "digits", "source_index", "positions"}
    assert item["x"].dtype == torch.float32 and item["x"].shape == (20, 1, 64, 64)
    assert 0.0 <= item["x"].min() and item["x"].max() == 1.0
    assert item["digits"].shape == (2,) and item["positions"].shape == (20, 2, 2)
    assert item["positions"].dtype == torch.long
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=4)))
    assert batch["x"].shape == (4, 20, 1, 64, 64) and batch["digits"].shape == (4, 2)


def test_same_seed_same_arrays_other_seed_different(two_digits: dict, tmp_path: Path) -> None:
    again = moving_mnist.generate("train", 60, 20, 2, seed=0)
    cached = two_digits["train"]
    np.testing.assert_array_equal(again["frames"], cached.frames)
    for key in ("digits", "source_index", "positions"):
        np.testing.assert_array_equal(again[key], cached.labels[key])
    other = moving_mnist.generate("train", 60, 20, 2, seed=1)
    assert not np.array_equal(other["source_index"], again["source_index"])
    assert not np.array_equal(other["frames"], again["frames"])


def test_smaller_sets_and_shorter_sequences_are_prefixes(two_digits: dict) -> None:
    small = moving_mnist.generate("test", 7, 12, 2, seed=0)
    full = two_digits["test"]
    np.testing.assert_array_equal(small["frames"], full.frames[:7, :12])
    np.testing.assert_array_equal(small["positions"], full.labels["positions"][:7, :12])
    np.testing.assert_array_equal(small["source_index"], full.labels["source_index"][:7])
    assert moving_mnist.CHUNK < 2000  # a multi-chunk set keeps the prefix property too
    big = moving_mnist.generate("test", moving_mnist.CHUNK + 5, 2, 1, seed=4)
    np.testing.assert_array_equal(moving_mnist.generate("test", 3, 2, 1, seed=4)["frames"], big["frames"][:3])
    assert not np.array_equal(big["positions"][:5], big["positions"][moving_mnist.CHUNK :])


def test_cached_split_is_not_regenerated(two_digits: dict, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("regenerated")

    monkeypatch.setattr(moving_mnist, "generate", fail)
    again = MovingMNISTDataset("train", 2, 20, 60, 40, cache_dir=cache_dir)
    np.testing.assert_array_equal(again.frames, two_digits["train"].frames)
    with pytest.raises(AssertionError, match="regenerated"):
        MovingMNISTDataset("train", 2, 20, 60, 40, seed=5, cache_dir=cache_dir)  # new settings, new entry


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"split": "valid"}, "unknown split 'valid'"),
        ({"split": "train", "train_sequences": 0}, "train_sequences must be an int >= 1"),
        ({"split": "test", "train_sequences": 2.5}, "train_sequences must be an int"),
        ({"split": "test", "test_sequences": True}, "test_sequences must be an int"),
        ({"split": "train", "num_digits": 0, "train_sequences": 2}, "num_digits must be an int >= 1"),
        ({"split": "train", "seq_len": 0, "train_sequences": 2}, "seq_len must be an int >= 1"),
        ({"split": "train", "speed": -1.0, "train_sequences": 2}, r"speed must be .* in \[0, 36\]"),
        ({"split": "train", "seed": -3, "train_sequences": 2}, "seed must be an int >= 0"),
    ],
)
def test_bad_arguments_raise_one_line_errors(kwargs: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=message) as info:
        MovingMNISTDataset(cache_dir=tmp_path, **kwargs)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- Bouncing MNIST


def test_bouncing_is_one_digit_moving_mnist(bouncing: dict, mnist_sets: dict) -> None:
    dataset = bouncing["test"]
    same = moving_mnist.generate("test", 30, 16, 1, seed=0)
    np.testing.assert_array_equal(dataset.frames, same["frames"])
    np.testing.assert_array_equal(dataset.labels["positions"], same["positions"][:, :, 0])
    np.testing.assert_array_equal(dataset.labels["source_index"], same["source_index"][:, 0])
    images, labels = mnist_sets["test"]
    np.testing.assert_array_equal(dataset.labels["digit"], labels[dataset.labels["source_index"]])
    frames = np.asarray(dataset.frames)[..., 0]
    for i in range(len(dataset)):
        for t in range(16):
            r, c = dataset.labels["positions"][i, t]
            digit = images[dataset.labels["source_index"][i]]
            np.testing.assert_array_equal(frames[i, t, r : r + 28, c : c + 28], digit)


def test_location_is_the_3x3_cell_of_the_digit_centre(bouncing: dict) -> None:
    for dataset in bouncing.values():
        location, positions = dataset.labels["location"], dataset.labels["positions"]
        assert location.shape == (len(dataset), 16) and location.min() >= 0 and location.max() <= 8
        centre = positions + 14.0  # centre of the 28x28 box, in pixel-edge coordinates
        cell = np.minimum((centre // (64 / 3)).astype(int), 2)
        np.testing.assert_array_equal(location, 3 * cell[..., 0] + cell[..., 1])
        ink = np.asarray(dataset.frames)[..., 0] > 0  # the ink lies inside the labelled box
        rows, cols = ink.any(axis=3), ink.any(axis=2)
        for axis, present in ((0, rows), (1, cols)):
            first = present.argmax(axis=-1)
            last = 63 - present[..., ::-1].argmax(axis=-1)
            assert (first >= positions[..., axis]).all() and (last < positions[..., axis] + 28).all()
    corners = np.array([[7, 8], [28, 29], [0, 36]])
    assert bouncing_mnist.location_bucket(corners).tolist() == [1, 5, 2]
    seen = np.concatenate([dataset.labels["location"].ravel() for dataset in bouncing.values()])
    assert sorted(set(seen.tolist())) == list(range(9))


def test_bouncing_item_format(bouncing: dict) -> None:
    dataset = bouncing["train"]
    assert dataset.frame_shape == (1, 64, 64) and dataset.seq_len == 16 and len(dataset) == 50
    item = dataset[0]
    assert set(item) == {"x", "digit", "location", "source_index", "positions"}
    assert item["x"].shape == (16, 1, 64, 64) and item["digit"].shape == () and item["location"].shape == (16,)
    assert item["positions"].shape == (16, 2)
    assert dataset.labels_info["location"]["num_classes"] == 9


def test_registry_and_configs(tmp_path: Path) -> None:
    configs = [("moving_mnist", "moving_mnist", 20), ("moving_mnist_vdsm", "moving_mnist", 16)]
    for stem, name, seq_len in configs + [("bouncing_mnist", "bouncing_mnist", 16)]:
        cfg = OmegaConf.load(ROOT / "conf" / "data" / f"{stem}.yaml")
        assert cfg.name == name and cfg.seq_len == seq_len and cfg._target_ == "data.build_dataset"
        cfg.cache_dir = str(tmp_path)
        cfg.train_sequences, cfg.test_sequences = 3, 2
        test_set = instantiate(cfg, split="test")
        assert isinstance(test_set, data.DATASETS[name]) and len(test_set) == 2 and test_set.seq_len == seq_len
        assert test_set[1]["x"].shape == (seq_len, 1, 64, 64)
    assert OmegaConf.load(ROOT / "conf" / "data" / "moving_mnist.yaml").num_digits == 2
    with pytest.raises(DataError, match="unknown dataset"):
        data.build_dataset("moving_mnst", "train")
