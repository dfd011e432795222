"""Tests of the user-video loader: tiny videos whose frame index is encoded as brightness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

import data
from data import video_folder
from data.errors import DataError
from data.video_folder import VideoFolderDataset, find_videos, square_frame

ROOT = Path(__file__).resolve().parents[1]
HEIGHT, WIDTH = 24, 40  # landscape: the centre 24 x 24 square is kept
MARGIN = (WIDTH - HEIGHT) // 2


def level(k: int) -> int:
    """Brightness that encodes frame index k."""
    return 10 + 12 * k


def frame_index(x: torch.Tensor) -> int:
    """Decode a frame's index from its mean brightness."""
    return int(round((float(x.mean()) * 255 - 10) / 12))


def frames(count: int, height: int = HEIGHT, width: int = WIDTH) -> list[np.ndarray]:
    """Grey frames: uniform level(k) in the centre square, white margins that the centre crop must remove."""
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    out = []
    for k in range(count):
        image = np.full((height, width), 255, np.uint8)
        image[top : top + side, left : left + side] = level(k)
        out.append(image)
    return out


def write_gif(path: Path, count: int) -> None:
    images = [Image.fromarray(f, "L") for f in frames(count)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=40, loop=0)


def write_folder(path: Path, count: int) -> None:
    path.mkdir(parents=True)
    for k, image in enumerate(frames(count, height=WIDTH, width=HEIGHT)):  # portrait
        Image.fromarray(image, "L").save(path / f"frame{k + 1}.png")  # frame10 sorts after frame9


def write_av(path: Path, count: int, codec: str) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.bit_rate = 4_000_000
        if codec == "libx264":
            stream.options = {"qp": "0"}
        for image in frames(count):
            rgb = np.repeat(image[..., None], 3, axis=2)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five videos: two GIFs, a frame folder, an mp4 and an avi, 11..19 frames each."""
    root = tmp_path_factory.mktemp("videos")
    write_gif(root / "a.gif", 11)
    write_gif(root / "b.gif", 13)
    write_folder(root / "c_frames", 12)
    write_av(root / "d.mp4", 19, "libx264")
    write_av(root / "e.avi", 17, "mpeg4")
    return root


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("seqzoo-cache")


def load(split: str, root: Path, cache_dir: Path, **options) -> VideoFolderDataset:
    options = {"size": 16, "seq_len": 4, "holdout_fraction": 0.4, **options}
    return VideoFolderDataset(split, root, cache_dir=cache_dir, **options)


def test_finds_every_kind_of_video(library: Path) -> None:
    names = [p.name for p in find_videos(library)]
    assert names == ["a.gif", "b.gif", "c_frames", "d.mp4", "e.avi"]


def test_items_are_cropped_resized_consecutive(library: Path, cache_dir: Path) -> None:
    datasets = [load(s, library, cache_dir) for s in ("train", "test")]
    for dataset in datasets:
        assert dataset.frame_shape == (3, 16, 16) and dataset.seq_len == 4
        for index in range(len(dataset)):
            item = dataset[index]
            assert set(item) == {"x", "video", "folder"}
            x = item["x"]
            assert x.shape == (4, 3, 16, 16) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
            lossy = dataset.videos[int(item["video"])].suffix in (".mp4", ".avi")
            tolerance = 6 / 255 if lossy else 1e-6  # yuv420p rounding, mpeg4 quantisation
            ks = [frame_index(frame) for frame in x]
            assert ks == list(range(ks[0], ks[0] + 4))  # consecutive frames, in order
            for k, frame in zip(ks, x):  # uniform: the white margins were cropped away
                assert (frame - level(k) / 255).abs().max() <= tolerance


def test_segment_table(library: Path, cache_dir: Path) -> None:
    train, test = (load(s, library, cache_dir, holdout_fraction=0.2) for s in ("train", "test"))
    every = train + test
    per_video = {}
    for index in range(len(every)):
        item = every[index]
        per_video.setdefault(int(item["video"]), []).append(frame_index(item["x"][0]))
    lengths = {0: 11, 1: 13, 2: 12, 3: 19, 4: 17}
    for video, firsts in per_video.items():
        assert len(firsts) == (lengths[video] - 4) // 4 + 1  # non-overlapping windows, as many as fit
        assert np.all(np.diff(firsts) == 4) and firsts[-1] + 4 <= lengths[video]
    capped = load("train", library, cache_dir, stride=1, max_segments_per_video=2)
    counts = np.bincount(capped.segments[:, 0])
    assert counts[counts > 0].tolist() == [2] * len(capped.split_videos)


def test_holdout_by_video_never_leaks_and_is_deterministic(library: Path, cache_dir: Path) -> None:
    train, test = load("train", library, cache_dir), load("test", library, cache_dir)
    assert len(test.split_videos) == 2 and len(train.split_videos) == 3
    assert not set(train.split_videos) & set(test.split_videos)
    assert {int(test[i]["video"]) for i in range(len(test))} == set(test.split_videos.tolist())
    assert np.array_equal(load("test", library, cache_dir).segments, test.segments)
    splits = {tuple(load("test", library, cache_dir, seed=s).split_videos) for s in range(6)}
    assert len(splits) > 1  # the seed chooses


def test_holdout_by_folder(tmp_path: Path) -> None:
    for subject in ("s1", "s2", "s3"):
        (tmp_path / "v" / subject).mkdir(parents=True)
        for take in range(2):
            write_gif(tmp_path / "v" / subject / f"{take}.gif", 5)
    options = dict(holdout_by="folder", holdout_fraction=0.34)
    train = load("train", tmp_path / "v", tmp_path / "c", **options)
    test = load("test", tmp_path / "v", tmp_path / "c", **options)
    train_folders = {int(train[i]["folder"]) for i in range(len(train))}
    test_folders = {int(test[i]["folder"]) for i in range(len(test))}
    assert len(test_folders) == 1 and len(train_folders) == 2 and not train_folders & test_folders
    assert test.labels_info["folder"]["num_classes"] == 3


def test_grey_and_frame_step(library: Path, cache_dir: Path) -> None:
    grey = load("train", library, cache_dir, channels=1, frame_step=2, seq_len=3)
    item = grey[0]
    assert item["x"].shape == (3, 1, 16, 16)
    ks = [frame_index(f) for f in item["x"]]
    assert ks == [ks[0], ks[0] + 2, ks[0] + 4]


def test_square_frame_crops_the_centre() -> None:
    image = np.zeros((10, 30, 3), np.uint8)
    image[:, 10:20] = 200  # the centre 10 x 10 square
    out = square_frame(Image.fromarray(image), 5, 3)
    assert out.shape == (5, 5, 3) and (out == 200).all()
    tall = square_frame(Image.fromarray(image.transpose(1, 0, 2).copy()), 5, 1)
    assert tall.shape == (5, 5, 1) and (tall == 200).all()


def test_cache_is_reused(library: Path, cache_dir: Path, monkeypatch) -> None:
    first = load("train", library, cache_dir)

    def fail(*args, **kwargs):
        raise AssertionError("decoded again although cached")

    monkeypatch.setattr(video_folder, "read_video", fail)
    again = load("train", library, cache_dir)
    assert torch.equal(again[0]["x"], first[0]["x"])


def test_clear_errors(tmp_path: Path, library: Path) -> None:
    cache = tmp_path / "c"
    with pytest.raises(DataError, match="does not exist"):
        load("train", tmp_path / "nowhere", cache)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match="no videos in"):
        load("train", tmp_path / "empty", cache)
    for name, payload in (("broken.mp4", b"not a video at all"), ("broken.gif", b"GIF89a garbage")):
        folder = tmp_path / name.replace(".", "_")
        folder.mkdir()
        write_gif(folder / "ok.gif", 6)
        (folder / name).write_bytes(payload)
        with pytest.raises(DataError, match=f"cannot read video .*{name}"):
            load("train", folder, cache)
    short = tmp_path / "short"
    short.mkdir()
    for i, count in enumerate((6, 6, 3)):
        write_gif(short / f"{i}.gif", count)
    with pytest.raises(DataError, match=r"2.gif has 3 frames, fewer than seq_len=4"):
        load("train", short, cache)
    assert load("train", short, cache, short_videos="skip", holdout_fraction=0.5).split_videos.tolist() in ([0], [1])
    with pytest.raises(DataError, match="leaves an empty split"):
        load("train", library, cache, holdout_fraction=0.01)
    with pytest.raises(DataError, match="unknown split"):
        load("valid", library, cache)
    with pytest.raises(DataError, match="channels must be"):
        load("train", library, cache, channels=4)


def test_registered_and_configured(library: Path, cache_dir: Path) -> None:
    cfg = OmegaConf.load(ROOT / "conf" / "data" / "video_folder.yaml")
    assert OmegaConf.is_missing(cfg, "root")
    cfg.root, cfg.cache_dir, cfg.size, cfg.seq_len, cfg.holdout_fraction = str(library), str(cache_dir), 16, 4, 0.4
    dataset = instantiate(cfg, split="test")
    assert isinstance(dataset, VideoFolderDataset) and data.DATASETS["video_folder"] is VideoFolderDataset
    assert len(dataset) > 0


def test_unreadable_skip_leaves_out_broken_and_truncated_files_naming_each(tmp_path: Path, caplog) -> None:
    root, cache = tmp_path / "videos", tmp_path / "cache"
    root.mkdir()
    for i in range(3):
        write_gif(root / f"ok{i}.gif", 6)
    (root / "garbage.mp4").write_bytes(b"not a video at all")
    whole = (root / "ok0.gif").read_bytes()
    (root / "truncated.gif").write_bytes(whole[: len(whole) * 2 // 3])  # decodes a few frames, then fails mid-way
    with pytest.raises(DataError, match="cannot read video .*garbage.mp4"):
        load("train", root, cache)
    with caplog.at_level("WARNING"):
        datasets = [load(split, root, cache, unreadable="skip", holdout_fraction=0.34) for split in ("train", "test")]
    names = [v.name for v in datasets[0].videos]
    used = sorted(names[i] for d in datasets for i in d.split_videos)
    assert used == ["ok0.gif", "ok1.gif", "ok2.gif"]  # every readable video in one split, the two broken ones in none
    assert "garbage.mp4" in caplog.text and "truncated.gif" in caplog.text
    assert "2 of 5 videos skipped as unreadable" in caplog.text
    assert all(frame_index(d[0]["x"][3]) - frame_index(d[0]["x"][0]) == 3 for d in datasets)  # whole, consecutive frames
    with pytest.raises(DataError, match="unreadable must be"):
        load("train", root, cache, unreadable="ignore")


def test_a_folder_with_no_readable_video_is_one_line(tmp_path: Path) -> None:
    root = tmp_path / "videos"
    root.mkdir()
    (root / "a.mp4").write_bytes(b"nothing")
    (root / "b.gif").write_bytes(b"GIF89a nothing")
    with pytest.raises(DataError, match="no readable video under .*all 2 failed to decode"):
        load("train", root, tmp_path / "cache", unreadable="skip")
