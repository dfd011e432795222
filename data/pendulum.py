"""Swinging pendula: VDSM (Miladinović et al. 2021) §4, "seven different colored pendula swinging at two
speeds (fast and slow)"; trained on 16-frame segments, generated up to 40 frames (§4, supplementary Fig. 3).

Purely synthetic: simulated and drawn here, no raw files to vendor. The paper gives no further detail;
our choices:

* Dynamics: a simple pendulum, theta'' = -(g/L) sin(theta), integrated with classical fixed-step RK4
  (``RK4_STEPS`` steps per frame), not the small-angle closed form. Time is counted in frames and
  g/L = (2 pi / P0)^2 with small-angle period P0 = 16 frames (slow) or 8 frames (fast); with the sampled
  amplitudes the true periods are 1-4 % longer (``period`` gives them exactly, via the AGM).
* Start: amplitude A uniform in [15, 45] degrees; the pendulum is released from rest at +A and run for a
  time uniform in [0, period(A)) before frame 0, so the phase is uniform.
  theta is measured from the downward vertical, positive towards +x (to the right in the image).
* Frames: 64 x 64 RGB uint8, pixel_scale 1/255. Image coordinates x = column, y = row (downwards), pixel
  (r, c) centred at (c + 0.5, r + 0.5). Background (0, 0, 0); grey rod (128, 128, 128), 1.5 px wide, from
  the pivot (32, 12) to the bob centre (32 + 36 sin theta, 12 + 36 cos theta); pivot disc radius 2 in
  (200, 200, 200); bob disc radius 5 in the pure colour of its class (``COLOURS``), drawn last. Edges are
  hard (a pixel is inside a disc when its centre is), so bob pixels carry exactly the class colour.
* Classes: 7 colours x 2 speeds = 14 combinations; ``sequences_per_combination`` sequences each.
  Sequence i of combination (colour c, speed s) comes from ``numpy.random.default_rng([seed, c, s, i])``.
* Split: for every combination the last round(test_fraction * n) indices (at least 1, and at least one
  left for training) are the test split, so all 14 combinations appear in both splits and the splits
  never share a simulation stream. Arrays are ordered by colour, then speed, then i.
* ``seq_len`` (16 for training; 40 for generation tests) only lengthens the recording: the first 16
  frames of a 40-frame sequence equal the 16-frame sequence with the same settings.

Arrays per cache entry ``pendulum-<split>-<key>``: ``frames`` uint8 (N, T, 64, 64, 3); ``colour`` int64 (N,)
in 0..6; ``speed`` int64 (N,) (0 slow, 1 fast); ``angle`` float32 (N, T), radians.

Measured full-size build (100 per combination, 2 shared cores, load ~2): seq_len 16 train 1260 sequences
3.1 s (248 MB), test 140 sequences 0.3 s; seq_len 40 train 7.9 s (619 MB), test 0.7 s; cached loads 0.2-0.5 s.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any

import numpy as np

from .base import ArraySequenceDataset
from .cache import load_or_build
from .checks import check_fraction, check_int, check_split
from .errors import DataError

GENERATOR_VERSION = 1
FRAME_SIZE = 64
COLOUR_NAMES = ("red", "orange", "yellow", "green", "cyan", "blue", "magenta")
COLOURS = ((255, 0, 0), (255, 128, 0), (255, 255, 0), (0, 255, 0), (0, 255, 255), (0, 0, 255), (255, 0, 255))
SPEED_NAMES = ("slow", "fast")
SMALL_ANGLE_PERIOD = (16.0, 8.0)  # frames, indexed by speed
AMPLITUDE_RANGE = (np.deg2rad(15.0), np.deg2rad(45.0))
RK4_STEPS = 10  # per frame
BACKGROUND = (0, 0, 0)
ROD_COLOUR = (128, 128, 128)
PIVOT_COLOUR = (200, 200, 200)
PIVOT = (32.0, 12.0)  # (x, y) px
ROD_LENGTH = 36.0  # px, pivot to bob centre
ROD_HALF_WIDTH = 0.75  # px
PIVOT_RADIUS = 2.0  # px
BOB_RADIUS = 5.0  # px
DEFAULT_SEQ_LEN = 16  # §4: 16-frame training segments
DEFAULT_PER_COMBINATION = 100
DEFAULT_TEST_FRACTION = 0.1
MAX_PER_COMBINATION = 100_000
MAX_SEQ_LEN = 10_000


def split_indices(split: str, per_combination: int, test_fraction: float) -> np.ndarray:
    """Return the within-combination sequence indices of a split (the test split is the tail)."""
    check_split(split)
    if per_combination < 2:
        raise DataError(f"sequences_per_combination must be at least 2 to fill both splits, got {per_combination}")
    n_test = min(max(round(test_fraction * per_combination), 1), per_combination - 1)
    boundary = per_combination - n_test
    return np.arange(boundary) if split == "train" else np.arange(boundary, per_combination)


def squared_frequency(speed: int) -> float:
    """Return g/L in 1/frame^2 for a speed class (0 slow, 1 fast)."""
    return (2.0 * np.pi / SMALL_ANGLE_PERIOD[speed]) ** 2


def period(amplitude: np.ndarray, speed: int) -> np.ndarray:
    """Return the exact period in frames of amplitude(s) A: 4 K(sin(A/2)) / omega_0, K via the AGM."""
    a, b = np.ones_like(amplitude), np.cos(np.asarray(amplitude) / 2.0)
    for _ in range(30):
        a, b = (a + b) / 2.0, np.sqrt(a * b)
    elliptic_k = np.pi / (2.0 * a)
    return 4.0 * elliptic_k / np.sqrt(squared_frequency(speed))


def rk4_step(state: np.ndarray, dt: float, omega2: float) -> np.ndarray:
    """Advance (..., 2) states [theta, theta'] of theta'' = -omega2 sin(theta) by one RK4 step of dt."""

    def slope(s: np.ndarray) -> np.ndarray:
        return np.stack([s[..., 1], -omega2 * np.sin(s[..., 0])], axis=-1)

    k1 = slope(state)
    k2 = slope(state + dt / 2 * k1)
    k3 = slope(state + dt / 2 * k2)
    k4 = slope(state + dt * k3)
    return state + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def integrate(state: np.ndarray, duration: np.ndarray, omega2: float) -> np.ndarray:
    """Run states (N, 2) for per-sequence durations (N,) in frames with RK4, RK4_STEPS steps per frame."""
    steps = np.ceil(duration * RK4_STEPS).astype(int)
    dt = np.where(steps > 0, duration / np.maximum(steps, 1), 0.0)
    for k in range(int(steps.max(initial=0))):
        state = np.where((k < steps)[:, None], rk4_step(state, dt[:, None], omega2), state)
    return state


def simulate(amplitude: np.ndarray, delay: np.ndarray, speed: int, seq_len: int) -> np.ndarray:
    """Return angles (N, T): released from rest at amplitude, run for delay frames, then sampled per frame."""
    omega2 = squared_frequency(speed)
    state = integrate(np.stack([amplitude, np.zeros_like(amplitude)], axis=1), delay, omega2)
    angles = np.empty((len(amplitude), seq_len))
    for t in range(seq_len):
        angles[:, t] = state[:, 0]
        for _ in range(RK4_STEPS):
            state = rk4_step(state, 1.0 / RK4_STEPS, omega2)
    return angles


def bob_centre(angle: np.ndarray) -> np.ndarray:
    """Return the bob centre (..., 2) as (x, y) px for angles (...)."""
    return np.stack([PIVOT[0] + ROD_LENGTH * np.sin(angle), PIVOT[1] + ROD_LENGTH * np.cos(angle)], axis=-1)


def render(angles: np.ndarray, colour: int) -> np.ndarray:
    """Draw frames uint8 (T, 64, 64, 3) of a pendulum of a colour class at angles (T,)."""
    centres = np.arange(FRAME_SIZE) + 0.5
    x, y = centres[None, None, :], centres[None, :, None]
    bob = bob_centre(angles)
    bx, by = bob[:, 0, None, None], bob[:, 1, None, None]
    along = np.clip(((x - PIVOT[0]) * (bx - PIVOT[0]) + (y - PIVOT[1]) * (by - PIVOT[1])) / ROD_LENGTH**2, 0.0, 1.0)
    rod_distance2 = (x - PIVOT[0] - along * (bx - PIVOT[0])) ** 2 + (y - PIVOT[1] - along * (by - PIVOT[1])) ** 2
    frames = np.empty((len(angles), FRAME_SIZE, FRAME_SIZE, 3), dtype=np.uint8)
    frames[:] = BACKGROUND
    frames[rod_distance2 <= ROD_HALF_WIDTH**2] = ROD_COLOUR
    frames[:, ((x - PIVOT[0]) ** 2 + (y - PIVOT[1]) ** 2 <= PIVOT_RADIUS**2)[0]] = PIVOT_COLOUR
    frames[(x - bx) ** 2 + (y - by) ** 2 <= BOB_RADIUS**2] = COLOURS[colour]
    return frames


def sample_starts(seed: int, colour: int, speed: int, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Draw (amplitude, delay in frames) for the given within-combination sequence indices."""
    draws = np.array([np.random.default_rng([seed, colour, speed, int(i)]).uniform(size=2) for i in indices])
    low, high = AMPLITUDE_RANGE
    amplitude = low + (high - low) * draws[:, 0]
    return amplitude, draws[:, 1] * period(amplitude, speed)


def generate_split(
    split: str, per_combination: int, test_fraction: float, seq_len: int, seed: int
) -> dict[str, np.ndarray]:
    """Simulate and draw a split (module docstring gives the layout and order)."""
    indices = split_indices(split, per_combination, test_fraction)
    n = len(indices) * len(COLOURS) * len(SPEED_NAMES)
    frames = np.empty((n, seq_len, FRAME_SIZE, FRAME_SIZE, 3), dtype=np.uint8)
    angles = np.empty((n, seq_len), dtype=np.float32)
    colours, speeds = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    row = 0
    for colour in range(len(COLOURS)):
        for speed in range(len(SPEED_NAMES)):
            block = slice(row, row + len(indices))
            angles[block] = simulate(*sample_starts(seed, colour, speed, indices), speed, seq_len)
            for i in range(block.start, block.stop):
                frames[i] = render(angles[i].astype(np.float64), colour)
            colours[block], speeds[block] = colour, speed
            row = block.stop
    return {"frames": frames, "colour": colours, "speed": speeds, "angle": angles}


def split_settings(split: str, per_combination: int, test_fraction: float, seq_len: int, seed: int) -> dict:
    """Return the generator settings that key a split's cache entry."""
    return {
        "dataset": "pendulum",
        "paper": "VDSM 2021 §4",
        "version": GENERATOR_VERSION,
        "split": split,
        "sequences_per_combination": per_combination,
        "test_fraction": test_fraction,
        "seq_len": seq_len,
        "seed": seed,
        "physics": {
            "small_angle_period": list(SMALL_ANGLE_PERIOD),
            "amplitude_range": [float(a) for a in AMPLITUDE_RANGE],
            "rk4_steps": RK4_STEPS,
        },
        "drawing": {
            "colours": [list(c) for c in COLOURS],
            "background": list(BACKGROUND),
            "rod": [list(ROD_COLOUR), ROD_LENGTH, ROD_HALF_WIDTH],
            "pivot": [list(PIVOT_COLOUR), list(PIVOT), PIVOT_RADIUS],
            "bob_radius": BOB_RADIUS,
        },
    }


def load_split(
    split: str,
    per_combination: int = DEFAULT_PER_COMBINATION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seq_len: int = DEFAULT_SEQ_LEN,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> dict[str, np.ndarray]:
    """Return a split's arrays from the cache, simulating them on first use."""
    split_indices(split, per_combination, test_fraction)  # validates before any work
    settings = split_settings(split, per_combination, test_fraction, seq_len, seed)
    build = partial(generate_split, split, per_combination, test_fraction, seq_len, seed)
    return load_or_build(f"pendulum-{split}", settings, build, cache_dir)


LABELS_INFO: dict[str, Any] = {
    "colour": {"num_classes": len(COLOURS), "names": COLOUR_NAMES, "rgb": COLOURS},
    "speed": {"num_classes": len(SPEED_NAMES), "names": SPEED_NAMES, "small_angle_period_frames": SMALL_ANGLE_PERIOD},
    "angle": {"per_frame": True, "units": "radians from the downward vertical, positive towards +x (right)"},
}


class PendulumDataset(ArraySequenceDataset):
    """VDSM §4 swinging pendula: {"x": (T, 3, 64, 64) in [0, 1], colour, speed, angle (T,)}."""

    name = "pendulum"
    frame_shape = (3, FRAME_SIZE, FRAME_SIZE)
    seq_len = DEFAULT_SEQ_LEN
    labels_info = LABELS_INFO
    pixel_scale = 1.0 / 255.0
    label_keys = ("colour", "speed", "angle")

    def __init__(
        self,
        split: str,
        sequences_per_combination: int = DEFAULT_PER_COMBINATION,
        test_fraction: float = DEFAULT_TEST_FRACTION,
        seq_len: int = DEFAULT_SEQ_LEN,
        seed: int = 0,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """Load (simulating on first use) a split of the 7 colours x 2 speeds pendula."""
        check_split(split)
        per_combination = check_int("sequences_per_combination", sequences_per_combination, 2, MAX_PER_COMBINATION)
        fraction = check_fraction("test_fraction", test_fraction)
        self.seq_len = check_int("seq_len", seq_len, 1, MAX_SEQ_LEN)
        seed = check_int("seed", seed, 0, 2**63 - 1)
        self.split = split
        super().__init__(load_split(split, per_combination, fraction, self.seq_len, seed, cache_dir))
