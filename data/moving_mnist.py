"""Moving MNIST with labels: real MNIST digits bouncing inside 64 x 64 frames.

The recipe of Srivastava et al. (2015, "Unsupervised learning of video representations
using LSTMs"), which Helminger et al. (2018, App. A: Srivastava's public file, T = 20,
64 x 64 x 1, two digits per sequence) and VDSM (Vowels et al. 2021, §4: 16-frame sequences)
train on. Generated here instead of downloaded, because the public file carries no labels
(and torchvision's MovingMNIST splits that one file by frame, not by digit):

* each sequence shows ``num_digits`` 28 x 28 MNIST digits, drawn uniformly with replacement
  from the MNIST *train* set for train sequences and from the MNIST *test* set for test
  sequences (so no digit image is in both splits);
* each digit's top-left corner starts uniformly in [0, 36]^2 (36 = 64 - 28) and moves with a
  fixed speed (default 3.6 px per frame = Srivastava's step of 0.1 of the free range) in a
  uniformly random direction; when a step would leave [0, 36] on an axis, the corner is put
  on that wall and the velocity's component on that axis is reversed (Srivastava's rule);
* the frame shows the digit at its corner rounded to the nearest pixel; overlapping digits
  are combined by the pixel-wise maximum (as Srivastava's generator does), not summed.

Arrays of one split (N sequences, T frames, D = num_digits):

* ``frames``       uint8 (N, T, 64, 64, 1);
* ``digits``       int64 (N, D): the class 0..9 of each digit;
* ``source_index`` int64 (N, D): the index of each digit's image in its MNIST split;
* ``positions``    int64 (N, T, D, 2): top-left (row, col) of each digit's 28 x 28 box, 0..36.

Random numbers come in chunks of 1000 sequences, chunk c drawn from
``default_rng([seed, split code, c])``, so a smaller ``n_sequences`` gives a prefix of a
larger one and a longer ``seq_len`` extends the same trajectories.

Measured full-size builds into an empty cache on the 2-core development machine under load
(10000 train + 2000 test sequences; command in data/raw/mnist/README.md): two digits,
T = 20 (conf/data/moving_mnist.yaml) 12.2 s, 0.99 GB; one digit, T = 16
(conf/data/moving_mnist_vdsm.yaml) 6.9 s, 0.79 GB; VDSM's paper size 49500 + 5500: 28.1 s, 3.6 GB.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from .base import ArraySequenceDataset
from .cache import load_or_build
from .errors import DataError
from .mnist import DIGIT_SIZE, NUM_CLASSES, check_split, download, files_digest, load_digits

GENERATOR_VERSION = 1
FRAME_SIZE = 64
LIMIT = FRAME_SIZE - DIGIT_SIZE  # largest top-left coordinate: 36
SPEED = 3.6  # px per frame: Srivastava's step_length 0.1 of the free range (64 - 28 = 36)
CHUNK = 1000
SPLIT_CODES = {"train": 0, "test": 1}
DEFAULT_SEQUENCES = {"train": 10000, "test": 2000}


def check_int(name: str, value: Any, low: int) -> int:
    """Return value as int if it is an int >= low, else raise DataError."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise DataError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def check_speed(speed: Any) -> float:
    """Return the speed as float if it is a finite number in [0, 36], else raise DataError."""
    if isinstance(speed, bool) or not isinstance(speed, (int, float, np.number)) or not 0 <= speed <= LIMIT:
        raise DataError(f"speed must be a number of pixels per frame in [0, {LIMIT}], got {speed!r}")
    return float(speed)


def settings(
    name: str, split: str, n_sequences: int, seq_len: int, num_digits: int, speed: float, seed: int
) -> dict[str, Any]:
    """Validate the generator settings and return them as the cache key dict."""
    check_split(split)
    return {
        "dataset": name,
        "recipe": "Srivastava et al. 2015 bouncing digits, data/moving_mnist.py",
        "version": GENERATOR_VERSION,
        "split": split,
        "n_sequences": check_int("n_sequences", n_sequences, 1),
        "seq_len": check_int("seq_len", seq_len, 1),
        "num_digits": check_int("num_digits", num_digits, 1),
        "speed": check_speed(speed),
        "seed": check_int("seed", seed, 0),
        "frame_size": FRAME_SIZE,
        "mnist": files_digest(),
    }


def draw_chunk(
    seed: int, split: str, chunk: int, size: int, num_digits: int, pool: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw (source indices (size, D), start corners (size, D, 2), directions (size, D)) of one chunk."""
    rng = np.random.default_rng([seed, SPLIT_CODES[split], chunk])
    sources = rng.integers(0, pool, size=(CHUNK, num_digits))
    starts = rng.uniform(0.0, LIMIT, size=(CHUNK, num_digits, 2))
    angles = rng.uniform(0.0, 2.0 * math.pi, size=(CHUNK, num_digits))
    return sources[:size], starts[:size], angles[:size]


def simulate(starts: np.ndarray, velocities: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Move corners (..., 2) by velocities (..., 2) for seq_len frames with wall bounces.

    Returns float positions and velocities, each (seq_len, ..., 2); frame t+1 is frame t
    plus velocity t, put on the wall and with that component reversed where it leaves [0, 36].
    """
    positions = np.empty((seq_len, *starts.shape))
    speeds = np.empty((seq_len, *starts.shape))
    positions[0], speeds[0] = starts, velocities
    for t in range(1, seq_len):
        moved = positions[t - 1] + speeds[t - 1]
        hit = (moved <= 0.0) | (moved >= LIMIT)
        positions[t] = np.clip(moved, 0.0, LIMIT)
        speeds[t] = np.where(hit, -speeds[t - 1], speeds[t - 1])
    return positions, speeds


def pixel_positions(positions: np.ndarray) -> np.ndarray:
    """Round float corners to the nearest pixel (halves up) as int64."""
    return np.floor(positions + 0.5).astype(np.int64)


def render(images: np.ndarray, corners: np.ndarray, out: np.ndarray) -> None:
    """Draw digit images (n, D, 28, 28) at corners (n, T, D, 2) into zeroed out (n, T, 64, 64), by maximum."""
    n, seq_len, num_digits, _ = corners.shape
    rows = np.arange(n)[:, None, None]
    offsets = np.arange(DIGIT_SIZE)
    for t in range(seq_len):
        frame = out[:, t]
        for d in range(num_digits):
            r = corners[:, t, d, 0][:, None, None] + offsets[None, :, None]
            c = corners[:, t, d, 1][:, None, None] + offsets[None, None, :]
            frame[rows, r, c] = np.maximum(frame[rows, r, c], images[:, d])


def generate(
    split: str,
    n_sequences: int,
    seq_len: int,
    num_digits: int,
    speed: float = SPEED,
    seed: int = 0,
    raw_dir: str | os.PathLike[str] | None = None,
) -> dict[str, np.ndarray]:
    """Generate one split's arrays (module docstring gives the recipe and the layout)."""
    settings("moving_mnist", split, n_sequences, seq_len, num_digits, speed, seed)
    images, labels = load_digits(split, raw_dir)
    frames = np.zeros((n_sequences, seq_len, FRAME_SIZE, FRAME_SIZE, 1), dtype=np.uint8)
    sources = np.empty((n_sequences, num_digits), dtype=np.int64)
    corners = np.empty((n_sequences, seq_len, num_digits, 2), dtype=np.int64)
    for chunk, start in enumerate(range(0, n_sequences, CHUNK)):
        stop = min(start + CHUNK, n_sequences)
        chunk_sources, starts, angles = draw_chunk(seed, split, chunk, stop - start, num_digits, len(images))
        velocities = speed * np.stack([np.sin(angles), np.cos(angles)], axis=-1)
        positions, _ = simulate(starts, velocities, seq_len)
        chunk_corners = pixel_positions(positions).transpose(1, 0, 2, 3)
        render(images[chunk_sources], chunk_corners, frames[start:stop, ..., 0])
        sources[start:stop], corners[start:stop] = chunk_sources, chunk_corners
    return {"frames": frames, "digits": labels[sources], "source_index": sources, "positions": corners}


def load_split(
    split: str,
    n_sequences: int,
    seq_len: int,
    num_digits: int,
    speed: float = SPEED,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    raw_dir: str | os.PathLike[str] | None = None,
) -> dict[str, np.ndarray]:
    """Return a split's arrays from the cache, generating them on first use."""
    key = settings("moving_mnist", split, n_sequences, seq_len, num_digits, speed, seed)
    build = lambda: generate(split, n_sequences, seq_len, num_digits, speed, seed, raw_dir)  # noqa: E731
    return load_or_build(f"moving_mnist-{split}", key, build, cache_dir)


def split_size(split: str, train_sequences: int, test_sequences: int) -> int:
    """Validate both size knobs and return the one of ``split``."""
    check_split(split)
    sizes = {"train": train_sequences, "test": test_sequences}
    return {name: check_int(f"{name}_sequences", value, 1) for name, value in sizes.items()}[split]


def prepare_raw(raw_dir: str | os.PathLike[str] | None, fetch: bool) -> None:
    """Download the MNIST files into raw_dir first if asked to."""
    if fetch:
        if raw_dir is None:
            raise DataError("download=true needs raw_dir=<folder> to download the MNIST files into")
        download(raw_dir)


POSITION_INFO = {"range": (0, LIMIT), "order": ("row", "col"), "of": "top-left corner of the 28x28 digit box"}


class MovingMNISTDataset(ArraySequenceDataset):
    """Moving MNIST split as a torch Dataset of {"x": (T, 1, 64, 64) in [0, 1], digits, source_index, positions}.

    Item labels: ``digits`` (D,), ``source_index`` (D,), ``positions`` (T, D, 2), all long.
    """

    name = "moving_mnist"
    frame_shape = (1, FRAME_SIZE, FRAME_SIZE)
    pixel_scale = 1.0 / 255.0
    label_keys = ("digits", "source_index", "positions")
    labels_info = {
        "digits": {"num_classes": NUM_CLASSES},
        "source_index": {"of": "MNIST image index within the split's MNIST set"},
        "positions": POSITION_INFO,
    }

    def __init__(
        self,
        split: str,
        num_digits: int = 2,
        seq_len: int = 20,
        train_sequences: int = DEFAULT_SEQUENCES["train"],
        test_sequences: int = DEFAULT_SEQUENCES["test"],
        speed: float = SPEED,
        seed: int = 0,
        cache_dir: str | os.PathLike[str] | None = None,
        raw_dir: str | os.PathLike[str] | None = None,
        download: bool = False,
    ) -> None:
        """Load (generating on first use) a split; ``download=True`` first fetches MNIST into ``raw_dir``."""
        n_sequences = split_size(split, train_sequences, test_sequences)
        prepare_raw(raw_dir, download)
        self.split, self.seq_len, self.num_digits = split, check_int("seq_len", seq_len, 1), num_digits
        super().__init__(load_split(split, n_sequences, seq_len, num_digits, speed, seed, cache_dir, raw_dir))
