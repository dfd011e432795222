"""Bouncing MNIST as Grathwohl & Wilson (2016) use it (§4, §4.1, §4.2).

One MNIST digit bouncing in 64 x 64 frames (the bouncing MNIST of Srivastava et al. [9];
the decoder of Table 5 outputs 4 x 4 -> 64 x 64), 16 frames per video (§4.2). This is the
Moving MNIST simulator of ``data/moving_mnist.py`` with ``num_digits = 1`` and
``seq_len = 16``: the same code path, so frames and positions equal those of
``moving_mnist.generate(split, n, 16, 1, speed, seed)``.

§4.1 scores disentanglement with two classification targets, which are the labels here:

* ``digit``    int64 (N,): static target, the digit class 0..9;
* ``location`` int64 (N, 16): temporal target, "the location of the digit (bucketed into a
  3 x 3 grid)": the frame is cut into a 3 x 3 grid of 64/3-pixel cells and the label is the
  cell holding the centre of the digit's 28 x 28 box, row-major 0..8:
  ``3 * floor(3 * (row + 14) / 64) + floor(3 * (col + 14) / 64)``. Corners 0..7 fall in
  the first cell of an axis, 8..28 in the middle one, 29..36 in the last one.

Also ``source_index`` (N,) (MNIST test/train image index, for leak tests) and ``positions``
(N, 16, 2), the top-left (row, col) of the digit box.

Measured full-size build into an empty cache on the 2-core development machine under load
(10000 train + 2000 test sequences; command in data/raw/mnist/README.md): 6.8 s, 0.79 GB.
The grid cells are not equally likely: over the default train set the middle cell holds about
31 % of the frames, each corner cell about 5 %.
"""

from __future__ import annotations

import os

import numpy as np

from . import moving_mnist
from .base import ArraySequenceDataset
from .cache import load_or_build
from .mnist import DIGIT_SIZE, NUM_CLASSES
from .moving_mnist import DEFAULT_SEQUENCES, FRAME_SIZE, POSITION_INFO, SPEED

SEQ_LEN = 16  # §4.2: "Each video has 16 frames"
GRID = 3  # §4.1: "bucketed into a 3x3 grid"


def location_bucket(positions: np.ndarray) -> np.ndarray:
    """Return the row-major 3 x 3 grid cell (0..8) of the box centre for top-left corners (..., 2)."""
    centre = positions + DIGIT_SIZE / 2
    cell = np.floor(GRID * centre / FRAME_SIZE).astype(np.int64)
    return GRID * cell[..., 0] + cell[..., 1]


def generate(
    split: str,
    n_sequences: int,
    seq_len: int = SEQ_LEN,
    speed: float = SPEED,
    seed: int = 0,
    raw_dir: str | os.PathLike[str] | None = None,
) -> dict[str, np.ndarray]:
    """Generate one split: the one-digit moving MNIST arrays plus the §4.1 labels."""
    arrays = moving_mnist.generate(split, n_sequences, seq_len, 1, speed, seed, raw_dir)
    positions = arrays["positions"][:, :, 0]
    return {
        "frames": arrays["frames"],
        "digit": arrays["digits"][:, 0],
        "location": location_bucket(positions),
        "source_index": arrays["source_index"][:, 0],
        "positions": positions,
    }


def load_split(
    split: str,
    n_sequences: int,
    seq_len: int = SEQ_LEN,
    speed: float = SPEED,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    raw_dir: str | os.PathLike[str] | None = None,
) -> dict[str, np.ndarray]:
    """Return a split's arrays from the cache, generating them on first use."""
    key = moving_mnist.settings("bouncing_mnist", split, n_sequences, seq_len, 1, speed, seed) | {"grid": GRID}
    build = lambda: generate(split, n_sequences, seq_len, speed, seed, raw_dir)  # noqa: E731
    return load_or_build(f"bouncing_mnist-{split}", key, build, cache_dir)


class BouncingMNISTDataset(ArraySequenceDataset):
    """Bouncing MNIST split as a torch Dataset of {"x": (T, 1, 64, 64) in [0, 1], digit, location, ...}.

    Item labels: ``digit`` (), ``location`` (T,), ``source_index`` (), ``positions`` (T, 2), all long.
    """

    name = "bouncing_mnist"
    frame_shape = (1, FRAME_SIZE, FRAME_SIZE)
    pixel_scale = 1.0 / 255.0
    label_keys = ("digit", "location", "source_index", "positions")
    labels_info = {
        "digit": {"num_classes": NUM_CLASSES, "kind": "static"},
        "location": {"num_classes": GRID * GRID, "kind": "per frame", "of": "3x3 grid cell of the box centre"},
        "source_index": {"of": "MNIST image index within the split's MNIST set"},
        "positions": POSITION_INFO,
    }

    def __init__(
        self,
        split: str,
        seq_len: int = SEQ_LEN,
        train_sequences: int = DEFAULT_SEQUENCES["train"],
        test_sequences: int = DEFAULT_SEQUENCES["test"],
        speed: float = SPEED,
        seed: int = 0,
        cache_dir: str | os.PathLike[str] | None = None,
        raw_dir: str | os.PathLike[str] | None = None,
        download: bool = False,
    ) -> None:
        """Load (generating on first use) a split; ``download=True`` first fetches MNIST into ``raw_dir``."""
        n_sequences = moving_mnist.split_size(split, train_sequences, test_sequences)
        moving_mnist.prepare_raw(raw_dir, download)
        self.split, self.seq_len = split, moving_mnist.check_int("seq_len", seq_len, 1)
        super().__init__(load_split(split, n_sequences, seq_len, speed, seed, cache_dir, raw_dir))
