"""Your own videos as a data set: a folder of video files or of frame-image folders.

This is how a user brings MUG, Aff-Wild or any other licensed video collection
(not shipped with seqzoo). Under ``root`` (searched recursively, hidden entries
skipped) a *video* is

* a file ending in .gif (read with Pillow), or .mp4/.avi/.mov/.mkv/.webm
  (decoded with PyAV, ``pip install av``, which bundles FFmpeg), or
* a folder that directly holds frame images (.png/.jpg/.jpeg/.bmp/.tif/.tiff/.webp),
  taken in natural name order (frame2 before frame10).

Videos are listed in natural order of their path relative to ``root``; the item
label ``video`` is the position in that list and ``folder`` the index of its
top-level sub-folder of ``root`` (e.g. the subject of MUG's
``subject/emotion/...`` layout; a video directly in ``root`` is its own folder).
Every frame (every ``frame_step``-th frame if > 1) is centre-cropped to a square,
resized to ``size`` x ``size`` (Pillow bilinear, antialiased) and stored once as
uint8 in the verified cache, keyed by the list of (path, bytes, mtime) and the
options. Segments of ``seq_len`` consecutive stored frames come from a
deterministic table built on load: per video, windows every ``stride`` frames
(default ``seq_len``: non-overlapping) from a seeded offset, at most
``max_segments_per_video`` of them (evenly spread). A seeded fraction
``holdout_fraction`` of the videos (or of the top-level folders, with
``holdout_by="folder"``, so no subject is in both) is the test split; the
rest is training. Items are ``{"x": float32 (T, C, size, size) in [0, 1],
"video": long, "folder": long}``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from PIL import Image, ImageSequence
from torch.utils.data import Dataset

from .cache import load_or_build
from .errors import DataError

GENERATOR_VERSION = 1
GIF_SUFFIXES = (".gif",)
AV_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
SPLITS = ("train", "test")
HOLDOUT_BY = ("video", "folder")
PIXEL_SCALE = 1.0 / 255.0
log = logging.getLogger(__name__)


def natural_key(text: str) -> list[Any]:
    """Sort key that orders embedded numbers numerically ('f2' < 'f10')."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def _frame_images(folder: Path) -> list[Path]:
    """Return the frame images directly inside a folder, in natural name order."""
    images = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    return sorted((p for p in images if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: natural_key(p.name))


def find_videos(root: Path) -> list[Path]:
    """Return every video file and frame folder under root, in natural order of relative path."""
    if not root.is_dir():
        raise DataError(f"video folder root {root} does not exist or is not a folder")
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [s for s in subfolders if not s.startswith(".")]
        here = Path(folder)
        if here != root and _frame_images(here):
            found.append(here)
        found += [here / f for f in files if not f.startswith(".") and f.lower().endswith(GIF_SUFFIXES + AV_SUFFIXES)]
    if not found:
        raise DataError(
            f"no videos in {root}: expected {'/'.join(GIF_SUFFIXES + AV_SUFFIXES)} files "
            "or sub-folders of frame images"
        )
    return sorted(found, key=lambda p: natural_key(p.relative_to(root).as_posix()))


# --- decoding ---------------------------------------------------------------------------------------


def square_frame(image: Image.Image, size: int, channels: int) -> np.ndarray:
    """Centre-crop an image to a square, resize it to size x size and return uint8 (size, size, channels)."""
    image = image.convert("RGB" if channels == 3 else "L")
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(square, dtype=np.uint8).reshape(size, size, channels)


def _gif_frames(path: Path) -> Iterator[Image.Image]:
    """Yield the frames of a GIF with Pillow (composited as displayed)."""
    with Image.open(path) as gif:
        for frame in ImageSequence.Iterator(gif):
            yield frame.convert("RGB")


def _av_frames(path: Path) -> Iterator[Image.Image]:
    """Yield the frames of a video file decoded by PyAV."""
    try:
        import av
    except ImportError as err:
        raise DataError(f"reading {path.suffix} videos needs PyAV: pip install av ({err})") from err
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise DataError(f"{path} has no video stream")
        for frame in container.decode(video=0):
            yield frame.to_image()


def _folder_frames(path: Path) -> Iterator[Image.Image]:
    """Yield the frame images of a frame folder in natural name order."""
    for image_path in _frame_images(path):
        with Image.open(image_path) as image:
            image.load()
            yield image


def same_size(frames: Iterator[Image.Image], path: Path) -> Iterator[Image.Image]:
    """The frames, refusing a video whose frames differ in size (e.g. a frame folder mixing two cameras)."""
    first = None
    for index, frame in enumerate(frames):
        first = first or frame.size
        if frame.size != first:
            raise DataError(f"cannot read video {path}: frame {index} is {frame.size[0]}x{frame.size[1]}, "
                            f"frame 0 is {first[0]}x{first[1]} (every frame of a video must have one size)")
        yield frame


def read_video(path: Path, size: int, channels: int, frame_step: int = 1) -> np.ndarray:
    """Decode a video (file or frame folder) into uint8 (n, size, size, channels), every frame_step-th frame."""
    if path.is_dir():
        frames = _folder_frames(path)
    elif path.suffix.lower() in GIF_SUFFIXES:
        frames = _gif_frames(path)
    else:
        frames = _av_frames(path)
    try:
        kept = [square_frame(f, size, channels) for i, f in enumerate(same_size(frames, path)) if i % frame_step == 0]
    except DataError:
        raise
    except Exception as err:  # Pillow and FFmpeg raise many types for a broken file
        raise DataError(f"cannot read video {path}: {type(err).__name__}: {err}") from err
    if not kept:
        raise DataError(f"cannot read video {path}: no frames decoded")
    return np.stack(kept)


# --- cache ----------------------------------------------------------------------------------------------


def _stamp(path: Path) -> list[Any]:
    """Return (bytes, mtime_ns) of a file or of every frame image of a frame folder."""
    files = _frame_images(path) if path.is_dir() else [path]
    stats = [f.stat() for f in files]
    return [sum(s.st_size for s in stats), max(s.st_mtime_ns for s in stats), len(files)]


def listing_digest(root: Path, videos: Sequence[Path]) -> str:
    """Return a digest of the videos' relative paths, sizes and modification times, for the cache key."""
    listing = [[v.relative_to(root).as_posix(), *_stamp(v)] for v in videos]
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()[:16]


def decode_all(root: Path, videos: Sequence[Path], size: int, channels: int, frame_step: int,
               skip_unreadable: bool = False) -> dict[str, np.ndarray]:
    """Decode every video into one frame pool plus per-video start offsets, lengths and an unreadable flag; with
    ``skip_unreadable`` a video that fails to decode (also mid-way) is left out with a warning, else it stops the build."""
    decoded, unreadable = [], np.zeros(len(videos), dtype=np.uint8)
    for index, video in enumerate(videos):
        try:
            decoded.append(read_video(video, size, channels, frame_step))
        except DataError as err:
            if not skip_unreadable:
                raise
            log.warning("skipping unreadable video (unreadable=skip): %s", err)
            decoded.append(np.zeros((0, size, size, channels), dtype=np.uint8))
            unreadable[index] = 1
    if unreadable.all():
        raise DataError(f"no readable video under {root}: all {len(videos)} failed to decode (see the warnings above)")
    lengths = np.array([len(d) for d in decoded], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return {"frames": np.concatenate(decoded), "starts": starts, "lengths": lengths, "unreadable": unreadable}


# --- splits and segments ------------------------------------------------------------------------------


def top_folders(root: Path, videos: Sequence[Path]) -> np.ndarray:
    """Return per video the index of its top-level sub-folder of root (a video directly in root is its own)."""
    keys = [v.relative_to(root).parts[0] for v in videos]
    names = sorted(set(keys), key=natural_key)
    return np.array([names.index(k) for k in keys], dtype=np.int64)


def held_out(groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Return a boolean mask of held-out entries: a seeded round(fraction * #groups) of the distinct groups."""
    distinct = np.unique(groups)
    count = int(round(fraction * len(distinct)))
    if not 0 < count < len(distinct):
        raise DataError(
            f"holdout_fraction={fraction} of {len(distinct)} videos/folders leaves an empty split; "
            "add videos or change holdout_fraction"
        )
    chosen = np.random.default_rng(seed).permutation(distinct)[:count]
    return np.isin(groups, chosen)


def segment_table(
    lengths: np.ndarray, videos: np.ndarray, seq_len: int, stride: int, max_per_video: int | None, seed: int
) -> np.ndarray:
    """Return int64 (n, 2) rows (video, first frame) of the segments of the given videos (module docstring)."""
    rows = []
    for video in videos:
        spare = int(lengths[video]) - seq_len
        offset = int(np.random.default_rng([seed, int(video)]).integers(0, spare % stride + 1))
        firsts = np.arange(offset, spare + 1, stride)
        if max_per_video is not None and len(firsts) > max_per_video:
            firsts = firsts[np.linspace(0, len(firsts) - 1, max_per_video).round().astype(np.int64)]
        rows += [(int(video), int(f)) for f in firsts]
    return np.array(rows, dtype=np.int64).reshape(-1, 2)


def _check_options(size: int, seq_len: int, channels: int, frame_step: int, fraction: float, holdout_by: str) -> None:
    """Raise DataError for an invalid option."""
    checks = [
        (isinstance(size, int) and size >= 1, f"size must be a positive int, got {size!r}"),
        (isinstance(seq_len, int) and seq_len >= 1, f"seq_len must be a positive int, got {seq_len!r}"),
        (channels in (1, 3), f"channels must be 1 (grey) or 3 (RGB), got {channels!r}"),
        (isinstance(frame_step, int) and frame_step >= 1, f"frame_step must be a positive int, got {frame_step!r}"),
        (isinstance(fraction, (int, float)) and 0 < fraction < 1, f"holdout_fraction must be in (0, 1): {fraction!r}"),
        (holdout_by in HOLDOUT_BY, f"holdout_by must be one of {', '.join(HOLDOUT_BY)}, got {holdout_by!r}"),
    ]
    for ok, message in checks:
        if not ok:
            raise DataError(message)


class VideoFolderDataset(Dataset):
    """Segments of T frames from a user's folder of videos: {"x": float32 (T, C, size, size), "video", "folder"}."""

    name = "video_folder"
    pixel_scale = PIXEL_SCALE

    def __init__(
        self,
        split: str,
        root: str | os.PathLike[str],
        size: int = 64,
        seq_len: int = 8,
        holdout_fraction: float = 0.1,
        seed: int = 0,
        channels: int = 3,
        holdout_by: str = "video",
        stride: int | None = None,
        max_segments_per_video: int | None = None,
        frame_step: int = 1,
        short_videos: str = "error",
        cache_dir: str | os.PathLike[str] | None = None,
        unreadable: str = "error",
    ) -> None:
        """Decode (once, into the cache) every video under root and build the split's segment table.

        ``short_videos="error"`` stops on a video with fewer than seq_len frames; ``"skip"`` leaves it out.
        ``unreadable="error"`` stops on a video that fails to decode; ``"skip"`` leaves it out with a warning naming it.
        """
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
        if short_videos not in ("error", "skip"):
            raise DataError(f"short_videos must be 'error' or 'skip', got {short_videos!r}")
        if unreadable not in ("error", "skip"):
            raise DataError(f"unreadable must be 'error' or 'skip', got {unreadable!r}")
        _check_options(size, seq_len, channels, frame_step, holdout_fraction, holdout_by)
        stride = seq_len if stride is None else stride
        if not isinstance(stride, int) or stride < 1:
            raise DataError(f"stride must be a positive int or null, got {stride!r}")
        root_path = Path(root).expanduser().resolve()
        videos = find_videos(root_path)
        arrays = self._load(root_path, videos, size, channels, frame_step, cache_dir, unreadable == "skip")
        lengths, skipped = arrays["lengths"], np.flatnonzero(arrays.get("unreadable", np.zeros(len(videos))))
        if len(skipped):
            log.warning("%s split: %d of %d videos skipped as unreadable (unreadable=skip), e.g. %s", split, len(skipped),
                        len(videos), videos[skipped[0]])
        usable = np.setdiff1d(self._usable(videos, lengths, seq_len, short_videos, frame_step, skipped), skipped)
        folders = top_folders(root_path, videos)
        groups = np.arange(len(videos)) if holdout_by == "video" else folders
        is_test = held_out(groups[usable], float(holdout_fraction), seed)
        chosen = usable[is_test] if split == "test" else usable[~is_test]
        self.split, self.root, self.videos = split, root_path, videos
        self.frame_shape, self.seq_len = (channels, size, size), seq_len
        self.labels_info = {
            "video": {"num_classes": len(videos), "names": [v.relative_to(root_path).as_posix() for v in videos]},
            "folder": {"num_classes": int(folders.max()) + 1, "description": "top-level sub-folder of root"},
        }
        self.frames, self.starts, self.folders = arrays["frames"], arrays["starts"], folders
        self.split_videos = chosen
        self.segments = segment_table(lengths, chosen, seq_len, stride, max_segments_per_video, seed)

    @staticmethod
    def _load(
        root: Path, videos: list[Path], size: int, channels: int, frame_step: int, cache_dir: Any, skip_unreadable: bool
    ) -> dict[str, np.ndarray]:
        """Return the decoded frame pool from the cache, decoding on first use."""
        settings = {
            "dataset": "video_folder",
            "version": GENERATOR_VERSION,
            "root": root.as_posix(),
            "videos": len(videos),
            "listing": listing_digest(root, videos),
            "size": size,
            "channels": channels,
            "frame_step": frame_step,
        }
        if skip_unreadable:  # a separate entry: it records which videos were left out
            settings["unreadable"] = "skip"
        build = lambda: decode_all(root, videos, size, channels, frame_step, skip_unreadable)  # noqa: E731
        return load_or_build("video_folder", settings, build, cache_dir)

    @staticmethod
    def _usable(videos: list[Path], lengths: np.ndarray, seq_len: int, policy: str, frame_step: int,
                skipped: np.ndarray) -> np.ndarray:
        """Return the indices of videos with at least seq_len frames, or raise for a short one (skipped ones aside)."""
        short = np.setdiff1d(np.flatnonzero(lengths < seq_len), skipped)
        if len(short) and policy == "error":
            step = f" (every {frame_step}th frame kept)" if frame_step > 1 else ""
            raise DataError(
                f"video {videos[short[0]]} has {lengths[short[0]]} frames{step}, fewer than seq_len={seq_len} "
                f"({len(short)} such videos; short_videos=skip leaves them out)"
            )
        return np.flatnonzero(lengths >= seq_len)

    def __len__(self) -> int:
        """Return the number of segments."""
        return len(self.segments)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """Return segment ``index`` as float32 (T, C, size, size) in [0, 1] plus its video and folder."""
        video, first = (int(v) for v in self.segments[index])
        begin = int(self.starts[video]) + first
        clip = np.ascontiguousarray(self.frames[begin : begin + self.seq_len].transpose(0, 3, 1, 2), dtype=np.float32)
        return {
            "x": torch.from_numpy(clip).mul_(self.pixel_scale),
            "video": torch.as_tensor(video, dtype=torch.long),
            "folder": torch.as_tensor(int(self.folders[video]), dtype=torch.long),
        }
