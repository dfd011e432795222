"""Bouncing ball (or square) in an irregular polygon: DSA (Li & Mandt 2018) §4.3, after Fraccaro et al. (2017).

Purely synthetic: every frame is simulated with pymunk and rasterised here, so there are no raw files to
vendor. §4.3: "a ball (or a square) bouncing inside an irregular polygon using Pymunk ... randomly sampled the
initial position and velocity of the ball, but did not apply any force to the ball, except for the fully
elastic collisions with the walls ... 5,000 sequences in total (1000 for test), each of them containing
T = 30 frames with a resolution of 32 x 32"; footnote 5: the square's inertia is infinite, so it never rotates.

Our choices (the paper gives no more detail):

* Coordinates: simulation units are pixels; x runs along columns, y along rows (downwards), origin at the
  top-left corner of the frame; pixel (row r, column c) covers [c, c+1) x [r, r+1), centre (c + 0.5, r + 0.5).
  Labels and images use this one mapping.
* Walls: the irregular hexagon of Fraccaro et al.'s released generator (kvae ``polygon.py``, shape 2), static
  pymunk segments of radius 0; elasticity 1 and friction 0 on walls and object; no gravity, no damping.
  Walls are not drawn (only the object is).
* Object: a disc of radius 3 px, or an axis-aligned square of side 6 px with infinite moment of inertia.
* Start: position uniform inside the polygon with at least ``START_MARGIN`` px between object and walls;
  direction uniform in [0, 2 pi), speed uniform in [10, 15] px per time unit (Fraccaro et al.'s range).
* Time: frame t shows the state at time t * 0.2 (2-3 px per frame); each frame interval is 50 pymunk steps,
  so the object overlaps a wall by at most one step's travel (``MAX_OVERLAP`` = 0.06 px) before it bounces.
  The solver runs 100 iterations per step: with pymunk's default 10, simultaneous contacts with two walls
  near a corner change the speed by up to ~1.7 %; with 100 the speed is conserved to ~1e-9 (measured).
* Frames: binary, a pixel is 1 where its centre lies inside the object. uint8 {0, 1}, pixel_scale 1.
* Split: sequence i of a split is simulated from ``numpy.random.default_rng([seed, split_id, i])`` with
  split_id 0 = train, 1 = test, so the splits use different random streams and a smaller
  ``train_sequences`` / ``test_sequences`` is a prefix of the full split (same code path).

Arrays per cache entry ``bouncing_ball-<split>-<key>`` (N sequences, T = seq_len):
``frames`` uint8 (N, T, 32, 32, 1); ``position`` and ``velocity`` float32 (N, T, 2) as (x, y) in px and
px per time unit; ``shape`` int64 (N,) (0 ball, 1 square).

Measured full-size build (2 shared cores, load ~2, pymunk 7.3.1): train 4000 sequences 6.9 s (123 MB),
test 1000 sequences 1.6 s (31 MB), the same for the square; later loads from the cache 0.1 s.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any

import numpy as np

from .base import ArraySequenceDataset
from .cache import load_or_build
from .checks import SPLITS, check_int, check_split
from .errors import DataError

GENERATOR_VERSION = 1
SHAPES = ("ball", "square")
FRAME_SIZE = 32
# Fraccaro et al.'s irregular hexagon (x, y) in px; convex, inside the 32 x 32 frame.
POLYGON = ((3.0, 1.0), (1.0, 15.0), (8.0, 30.0), (25.0, 30.0), (30.0, 8.0), (15.0, 1.0))
RADIUS = 3.0  # ball radius, px
HALF_SIDE = 3.0  # half the square's side, px
FRAME_DT = 0.2  # simulated time between frames
SUBSTEPS = 50  # pymunk steps per frame interval
SOLVER_ITERATIONS = 100  # pymunk space.iterations (see module docstring)
SPEED_RANGE = (10.0, 15.0)  # px per time unit
START_MARGIN = 0.5  # px between the object and every wall at t = 0
MAX_OVERLAP = SPEED_RANGE[1] * FRAME_DT / SUBSTEPS  # px: one step's travel, the deepest possible wall contact
DEFAULT_SEQ_LEN = 30  # §4.3
DEFAULT_COUNTS = {"train": 4000, "test": 1000}  # §4.3: 5000 sequences, 1000 for test
MAX_SEQUENCES = 1_000_000
MAX_SEQ_LEN = 10_000


def _import_pymunk() -> Any:
    """Import pymunk or raise a one-line DataError saying how to install it."""
    try:
        import pymunk
    except ImportError as err:
        raise DataError("the bouncing_ball data set needs pymunk: pip install 'pymunk>=7,<8'") from err
    return pymunk


def check_shape(shape: str) -> int:
    """Return the index of an object shape name (0 ball, 1 square) or raise DataError."""
    if shape not in SHAPES:
        raise DataError(f"unknown shape {shape!r}; valid: {', '.join(SHAPES)}")
    return SHAPES.index(shape)


def polygon_edges() -> tuple[np.ndarray, np.ndarray]:
    """Return the walls' start points (E, 2) and inward unit normals (E, 2)."""
    start = np.array(POLYGON)
    end = np.roll(start, -1, axis=0)
    twice_area = np.sum(start[:, 0] * end[:, 1] - end[:, 0] * start[:, 1])
    normal = np.sign(twice_area) * np.stack([start[:, 1] - end[:, 1], end[:, 0] - start[:, 0]], axis=1)
    return start, normal / np.linalg.norm(normal, axis=1, keepdims=True)


def object_extent(shape: str, normal: np.ndarray) -> np.ndarray:
    """Return how far the object reaches from its centre along each unit normal (E, 2) -> (E,)."""
    if shape == "ball":
        return np.full(len(normal), RADIUS)
    return HALF_SIDE * np.abs(normal).sum(axis=1)  # axis-aligned square (never rotates)


def wall_clearance(shape: str, positions: np.ndarray) -> np.ndarray:
    """Return the smallest gap between the object at positions (..., 2) and the walls (negative = overlap)."""
    start, normal = polygon_edges()
    distance = np.einsum("ed,...ed->...e", normal, positions[..., None, :] - start)
    return (distance - object_extent(shape, normal)).min(axis=-1)


def sample_start(rng: np.random.Generator, shape: str) -> tuple[np.ndarray, np.ndarray]:
    """Draw a start position inside the polygon (rejection sampling) and a velocity."""
    low, high = np.min(POLYGON, axis=0), np.max(POLYGON, axis=0)
    while True:
        position = rng.uniform(low, high)
        if wall_clearance(shape, position) >= START_MARGIN:
            break
    direction = rng.uniform(0.0, 2.0 * np.pi)
    speed = rng.uniform(*SPEED_RANGE)
    return position, speed * np.array([np.cos(direction), np.sin(direction)])


def _build_space(shape: str, position: np.ndarray, velocity: np.ndarray) -> tuple[Any, Any]:
    """Return a fresh pymunk space with the polygon walls and the object, and the object's body."""
    pymunk = _import_pymunk()
    space = pymunk.Space()
    space.iterations = SOLVER_ITERATIONS
    corners = [tuple(p) for p in POLYGON]
    for a, b in zip(corners, corners[1:] + corners[:1]):
        wall = pymunk.Segment(space.static_body, a, b, 0.0)
        wall.elasticity, wall.friction = 1.0, 0.0
        space.add(wall)
    if shape == "ball":
        body = pymunk.Body(1.0, pymunk.moment_for_circle(1.0, 0.0, RADIUS))
        solid = pymunk.Circle(body, RADIUS)
    else:
        body = pymunk.Body(1.0, float("inf"))  # footnote 5: infinite inertia, the square never rotates
        solid = pymunk.Poly.create_box(body, (2 * HALF_SIDE, 2 * HALF_SIDE))
    solid.elasticity, solid.friction = 1.0, 0.0
    body.position, body.velocity = tuple(position), tuple(velocity)
    space.add(body, solid)
    return space, body


def simulate(shape: str, position: np.ndarray, velocity: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Return positions and velocities (T, 2) at times 0, dt, ..., (T-1) dt from a start state."""
    space, body = _build_space(shape, position, velocity)
    positions = np.empty((seq_len, 2))
    velocities = np.empty((seq_len, 2))
    for t in range(seq_len):
        positions[t], velocities[t] = tuple(body.position), tuple(body.velocity)
        for _ in range(SUBSTEPS):
            space.step(FRAME_DT / SUBSTEPS)
    return positions, velocities


def render(shape: str, positions: np.ndarray) -> np.ndarray:
    """Rasterise the object at positions (T, 2) into binary uint8 frames (T, 32, 32, 1)."""
    centres = np.arange(FRAME_SIZE) + 0.5
    dx = centres[None, None, :] - positions[:, 0, None, None]  # along columns
    dy = centres[None, :, None] - positions[:, 1, None, None]  # along rows
    if shape == "ball":
        inside = dx**2 + dy**2 <= RADIUS**2
    else:
        inside = (np.abs(dx) <= HALF_SIDE) & (np.abs(dy) <= HALF_SIDE)
    return inside.astype(np.uint8)[..., None]


def generate_split(split: str, n_sequences: int, shape: str, seq_len: int, seed: int) -> dict[str, np.ndarray]:
    """Simulate and render the first n_sequences of a split (module docstring gives the layout)."""
    check_split(split)
    shape_index = check_shape(shape)
    frames = np.empty((n_sequences, seq_len, FRAME_SIZE, FRAME_SIZE, 1), dtype=np.uint8)
    positions = np.empty((n_sequences, seq_len, 2), dtype=np.float32)
    velocities = np.empty((n_sequences, seq_len, 2), dtype=np.float32)
    for i in range(n_sequences):
        rng = np.random.default_rng([seed, SPLITS.index(split), i])
        path, speed = simulate(shape, *sample_start(rng, shape), seq_len)
        frames[i], positions[i], velocities[i] = render(shape, path), path, speed
    labels = np.full(n_sequences, shape_index, dtype=np.int64)
    return {"frames": frames, "position": positions, "velocity": velocities, "shape": labels}


def split_settings(split: str, n_sequences: int, shape: str, seq_len: int, seed: int) -> dict[str, Any]:
    """Return the generator settings that key a split's cache entry."""
    return {
        "dataset": "bouncing_ball",
        "paper": "DSA 2018 §4.3",
        "version": GENERATOR_VERSION,
        "split": split,
        "n_sequences": n_sequences,
        "shape": shape,
        "seq_len": seq_len,
        "seed": seed,
        "pymunk": _import_pymunk().version,
        "physics": {
            "polygon": [list(p) for p in POLYGON],
            "radius": RADIUS,
            "half_side": HALF_SIDE,
            "frame_dt": FRAME_DT,
            "substeps": SUBSTEPS,
            "iterations": SOLVER_ITERATIONS,
            "speed_range": list(SPEED_RANGE),
            "start_margin": START_MARGIN,
        },
    }


def load_split(
    split: str,
    n_sequences: int,
    shape: str = "ball",
    seq_len: int = DEFAULT_SEQ_LEN,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> dict[str, np.ndarray]:
    """Return a split's arrays from the cache, simulating them on first use."""
    settings = split_settings(split, n_sequences, shape, seq_len, seed)
    build = partial(generate_split, split, n_sequences, shape, seq_len, seed)
    return load_or_build(f"bouncing_ball-{split}", settings, build, cache_dir)


LABELS_INFO = {
    "position": {"per_frame": True, "size": 2, "units": "px, (x = column, y = row) from the frame's top-left corner"},
    "velocity": {"per_frame": True, "size": 2, "units": "px per time unit; frames are 0.2 time units apart"},
    "shape": {"num_classes": len(SHAPES), "names": SHAPES},
}


class BouncingBallDataset(ArraySequenceDataset):
    """DSA §4.3 bouncing ball/square split: {"x": (T, 1, 32, 32) in {0, 1}, position, velocity (T, 2), shape}."""

    name = "bouncing_ball"
    frame_shape = (1, FRAME_SIZE, FRAME_SIZE)
    seq_len = DEFAULT_SEQ_LEN
    labels_info = LABELS_INFO
    pixel_scale = 1.0
    label_keys = ("position", "velocity", "shape")

    def __init__(
        self,
        split: str,
        shape: str = "ball",
        train_sequences: int = DEFAULT_COUNTS["train"],
        test_sequences: int = DEFAULT_COUNTS["test"],
        seq_len: int = DEFAULT_SEQ_LEN,
        seed: int = 0,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """Load (simulating on first use) the first train/test_sequences sequences of a split."""
        check_split(split)
        check_shape(shape)
        counts = {
            "train": check_int("train_sequences", train_sequences, 1, MAX_SEQUENCES),
            "test": check_int("test_sequences", test_sequences, 1, MAX_SEQUENCES),
        }
        self.seq_len = check_int("seq_len", seq_len, 1, MAX_SEQ_LEN)
        seed = check_int("seed", seed, 0, 2**63 - 1)
        self.split, self.shape = split, shape
        super().__init__(load_split(split, counts[split], shape, self.seq_len, seed, cache_dir))
