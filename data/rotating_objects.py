"""Rotating chair-like objects: the closest honest substitute for Grathwohl & Wilson's (2016) second data set, rotating
chairs rendered from ShapeNet (§4), which cannot be shipped. Each object is an assembly of boxes and cylinders (a seat,
a back, four legs and optional armrests) with random proportions and colours, rendered while it rotates about a random
axis at a constant angular speed: 64 x 64 RGB, 16 frames per sequence.

Procedural, and rendered here by a small NumPy ray caster. The renderer check (2026-12-02, this 2-core machine):
moderngl 5.13 installs from the package index and renders headless through EGL, but only because this machine has
the system's Mesa libEGL (software llvmpipe), which no pip package provides; without a display (X) it fails. A data set
every user must be able to build should not hang on a system library, and llvmpipe's pixels may change with the Mesa
version; the ray caster needs nothing beyond NumPy, intersects exact boxes and cylinders (no tessellation) and gives
the same frames on every machine (up to floating-point rounding). pyrender (last release 2021) needs the same OpenGL context. Our choices:

* Object frame: y up, the seat's front towards +z. Seat: a box of width ``seat_width``, depth ``seat_depth`` and
  thickness ``seat_thickness`` on four legs of length ``leg_length`` and thickness ``leg_thickness``, boxes or
  cylinders (``leg_type`` 0 box, 1 cylinder), set in from the seat's corners by their thickness; a back of height
  ``back_height`` and thickness ``back_thickness`` along the seat's rear edge; armrests (``arms`` 1) are two thin
  boxes on the seat's sides at a third of the back's height. The assembly is centred on its bounding box and scaled
  so that its farthest corner is ``FIT_RADIUS`` from the centre, so no orientation leaves the frame.
* Colours: the seat, back and armrests share one colour, the legs another, each a random hue at saturation 0.45-0.9
  and value 0.6-1.0.
* Motion: a uniform random start orientation, a uniform random unit axis (world frame), and an angular speed
  uniform in ``SPEED_RANGE`` = [2 pi / 32, 2 pi / 16] radians per frame (a half to a whole turn over 16 frames),
  counter-clockwise about the axis; frame t shows the rotation R(axis, speed * t) @ R_start.
* Camera and shading: orthographic, looking along -z at the world origin, the frame spanning [-1, 1]^2; Lambert
  shading with ambient 0.25 and one directional light from ``LIGHT``; black background; 2 x 2 supersampling.
* Identity: ``sequences_per_object`` sequences show each object (same shape and colours, new axis, speed and start),
  so an identity appears in several sequences, as G&W Fig. 3 needs (two static codes under the same temporal codes).
  Objects of the train and test splits come from different random streams (``numpy.random.default_rng([seed,
  split, object])``), so no test object is seen in training.

Labels per sequence: ``object`` (int, the identity within its split), ``style`` (int 0..3 = 2 * leg_type + arms: the
static target of G&W's eq. 19 here, a property of the shape shared across objects), ``leg_type``, ``arms``, the shape
parameters ``shape`` (float32 (7,): seat width, seat depth, seat thickness, leg length, leg thickness, back height,
back thickness, before scaling), ``axis`` (float32 (3,)), ``speed`` (float32, radians per frame); per frame
``facing`` (int64 (T,), the temporal target of eq. 19: the direction the seat's front points in the image plane,
atan2 of its screen (x, y) components, in ``FACING_BINS`` sectors of 45 degrees, sector 0 centred on +x) and
``angle`` (float32 (T,), the angle turned since frame 0).
"""
from __future__ import annotations

import colorsys
import functools
import os
from functools import partial
from typing import Any

import numpy as np

from .base import ArraySequenceDataset
from .cache import load_or_build
from .checks import SPLITS, check_int, check_split

GENERATOR_VERSION = 1
FRAME_SIZE = 64
SUPERSAMPLE = 2
DEFAULT_SEQ_LEN = 16  # as G&W's videos (§4.2)
DEFAULT_OBJECTS = {"train": 500, "test": 125}  # x 2 sequences: 1000 / 250
DEFAULT_SEQUENCES_PER_OBJECT = 2
MAX_OBJECTS = 1_000_000
MAX_SEQ_LEN = 1_000
FIT_RADIUS = 0.92
SPEED_RANGE = (2 * np.pi / 32, 2 * np.pi / 16)
LIGHT = np.array([0.45, 0.65, 0.62]) / np.linalg.norm([0.45, 0.65, 0.62])
AMBIENT = 0.25
FACING_BINS = 8
SHAPE_RANGES = {  # uniform ranges of the shape parameters, in object units before scaling
    "seat_width": (0.55, 1.0),
    "seat_depth": (0.5, 0.95),
    "seat_thickness": (0.06, 0.16),
    "leg_length": (0.35, 0.85),
    "leg_thickness": (0.03, 0.09),
    "back_height": (0.3, 0.95),
    "back_thickness": (0.04, 0.12),
}
STYLES = ("box legs", "box legs + arms", "round legs", "round legs + arms")
EPS = 1e-9


# --------------------------------------------------------------------------------------------------
# geometry: an object is a list of primitives in its own frame


def sample_object(rng: np.random.Generator) -> dict[str, Any]:
    """Random shape parameters, leg type, armrests and two colours of one object."""
    shape = {name: rng.uniform(low, high) for name, (low, high) in SHAPE_RANGES.items()}
    leg_type, arms = int(rng.integers(2)), int(rng.integers(2))
    colours = [np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.45, 0.9), rng.uniform(0.6, 1.0))) for _ in range(2)]
    return {"shape": shape, "leg_type": leg_type, "arms": arms, "body_colour": colours[0], "leg_colour": colours[1]}


def primitives(obj: dict[str, Any]) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """The object's primitives (kind 'box' or 'cylinder', centre (3,), half sizes (3,) (cylinder: radius, half height,
    radius), colour (3,)), centred on their bounding box and scaled to FIT_RADIUS."""
    s = obj["shape"]
    width, depth, seat, legs, thick = s["seat_width"], s["seat_depth"], s["seat_thickness"], s["leg_length"], s["leg_thickness"]
    parts = [("box", np.array([0.0, legs + seat / 2, 0.0]), np.array([width / 2, seat / 2, depth / 2]), obj["body_colour"])]
    back_y = legs + seat + s["back_height"] / 2
    parts.append(("box", np.array([0.0, back_y, -depth / 2 + s["back_thickness"] / 2]),
                  np.array([width / 2, s["back_height"] / 2, s["back_thickness"] / 2]), obj["body_colour"]))
    kind = "cylinder" if obj["leg_type"] else "box"
    for sx in (-1, 1):
        for sz in (-1, 1):
            centre = np.array([sx * (width / 2 - thick), legs / 2, sz * (depth / 2 - thick)])
            parts.append((kind, centre, np.array([thick, legs / 2, thick]), obj["leg_colour"]))
    if obj["arms"]:
        arm_y = legs + seat + s["back_height"] / 3
        for sx in (-1, 1):
            parts.append(("box", np.array([sx * (width / 2 - 0.02), arm_y, 0.0]), np.array([0.02, 0.02, depth / 2]), obj["body_colour"]))
    corners = np.array([c + sign * h for _, c, h, _ in parts for sign in np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T])
    middle = (corners.min(0) + corners.max(0)) / 2
    scale = FIT_RADIUS / np.linalg.norm(corners - middle, axis=1).max()
    return [(kind, (centre - middle) * scale, half * scale, colour) for kind, centre, half, colour in parts]


def rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """The 3 x 3 rotation by ``angle`` (radians, counter-clockwise) about the unit ``axis`` (Rodrigues)."""
    x, y, z = axis
    cross = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly distributed rotation (from a uniform unit quaternion)."""
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


# --------------------------------------------------------------------------------------------------
# ray casting: rays along -z through the pixel centres, intersected in each primitive's (object) frame


def hit_box(origin: np.ndarray, direction: np.ndarray, centre: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entry distance (R,) (inf on a miss) and outward normal (R, 3) of rays (R, 3) with an axis-aligned box (slab test)."""
    safe = np.where(np.abs(direction) < EPS, EPS, direction)
    near, far = (centre - half - origin) / safe, (centre + half - origin) / safe
    low, high = np.minimum(near, far), np.maximum(near, far)
    entry, leave = low.max(1), high.min(1)
    hit = (leave >= entry) & (entry > 0)
    axis = low.argmax(1)
    normal = np.zeros_like(origin)
    normal[np.arange(len(origin)), axis] = -np.sign(safe[np.arange(len(origin)), axis])
    return np.where(hit, entry, np.inf), normal


def hit_cylinder(origin: np.ndarray, direction: np.ndarray, centre: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entry distance (R,) and outward normal (R, 3) of rays with a cylinder along y (radius half[0], half height half[1])."""
    radius, height = half[0], half[1]
    o = origin - centre
    a = direction[:, 0] ** 2 + direction[:, 2] ** 2
    b = 2 * (o[:, 0] * direction[:, 0] + o[:, 2] * direction[:, 2])
    c = o[:, 0] ** 2 + o[:, 2] ** 2 - radius**2
    disc = b * b - 4 * a * c
    side = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * np.maximum(a, EPS))
    side_y = o[:, 1] + side * direction[:, 1]
    side_ok = (disc >= 0) & (a > EPS) & (side > 0) & (np.abs(side_y) <= height)
    cap_y = -np.sign(np.where(np.abs(direction[:, 1]) < EPS, EPS, direction[:, 1])) * height  # the cap facing the ray
    cap = (cap_y - o[:, 1]) / np.where(np.abs(direction[:, 1]) < EPS, EPS, direction[:, 1])
    cap_x, cap_z = o[:, 0] + cap * direction[:, 0], o[:, 2] + cap * direction[:, 2]
    cap_ok = (cap > 0) & (cap_x**2 + cap_z**2 <= radius**2)
    distance = np.where(side_ok, side, np.inf)
    use_cap = cap_ok & (cap < distance)
    distance = np.where(use_cap, cap, distance)
    at = o + np.where(np.isfinite(distance), distance, 0.0)[:, None] * direction  # misses get a harmless normal
    normal = np.stack([at[:, 0], np.zeros(len(o)), at[:, 2]], 1) / radius
    normal[use_cap] = np.stack([np.zeros(use_cap.sum()), np.sign(cap_y[use_cap]), np.zeros(use_cap.sum())], 1)
    return distance, normal


@functools.cache
def pixel_rays(size: int, supersample: int) -> np.ndarray:
    """World-frame origins (R, 3) of the rays through the (supersampled) pixel centres, row-major, 4 units in front."""
    fine = size * supersample
    centres = (np.arange(fine) + 0.5) / fine * 2 - 1
    cols, rows = np.meshgrid(centres, -centres)  # image rows go down, world y up
    origins = np.stack([cols.ravel(), rows.ravel(), np.full(cols.size, 4.0)], 1)
    origins.flags.writeable = False
    return origins


def render_frames(parts: list, orientations: np.ndarray, size: int = FRAME_SIZE, supersample: int = SUPERSAMPLE) -> np.ndarray:
    """The object under each of ``orientations`` (T, 3, 3) (object -> world rotations) as float (T, size, size, 3) in [0, 1]."""
    world = pixel_rays(size, supersample)
    frames, count = len(orientations), len(world)
    origin = (world[None] @ orientations).reshape(-1, 3)  # into the object frame: R^T p, every frame's rays in a row
    direction = np.repeat(-orientations[:, 2, :], count, axis=0)  # R^T (0, 0, -1)
    light = orientations.transpose(0, 2, 1) @ LIGHT  # the light direction in each frame's object coordinates (T, 3)
    nearest = np.full(frames * count, np.inf)
    colour = np.zeros((frames * count, 3))
    for kind, centre, half, rgb in parts:
        seen = orientations @ centre  # (T, 3); cull: only rays through the primitive's projected bounding circle are tested
        near = (world[None, :, 0] - seen[:, None, 0]) ** 2 + (world[None, :, 1] - seen[:, None, 1]) ** 2 <= half @ half
        rays = np.flatnonzero(near)
        distance, normal = (hit_cylinder if kind == "cylinder" else hit_box)(origin[rays], direction[rays], centre, half)
        closer = distance < nearest[rays]
        rays, normal = rays[closer], normal[closer]
        nearest[rays] = distance[closer]
        shade = AMBIENT + (1 - AMBIENT) * np.clip((normal * light[rays // count]).sum(1), 0, 1)
        colour[rays] = shade[:, None] * rgb
    return colour.reshape(frames, size, supersample, size, supersample, 3).mean((2, 4))


def facing_sector(orientation: np.ndarray) -> int:
    """The image-plane direction of the seat's front (object +z) in FACING_BINS sectors, sector 0 centred on +x."""
    front = orientation @ np.array([0.0, 0.0, 1.0])
    angle = np.arctan2(front[1], front[0]) % (2 * np.pi)
    return int(np.floor(angle / (2 * np.pi) * FACING_BINS + 0.5)) % FACING_BINS


# --------------------------------------------------------------------------------------------------
# splits


def generate_split(split: str, objects: int, per_object: int, seq_len: int, seed: int) -> dict[str, np.ndarray]:
    """Render a split: ``objects`` objects, each rotating in ``per_object`` sequences (module docstring)."""
    n = objects * per_object
    out = {
        "frames": np.empty((n, seq_len, FRAME_SIZE, FRAME_SIZE, 3), dtype=np.uint8),
        "object": np.repeat(np.arange(objects, dtype=np.int64), per_object),
        "style": np.empty(n, dtype=np.int64), "leg_type": np.empty(n, dtype=np.int64), "arms": np.empty(n, dtype=np.int64),
        "shape": np.empty((n, len(SHAPE_RANGES)), dtype=np.float32), "axis": np.empty((n, 3), dtype=np.float32),
        "speed": np.empty(n, dtype=np.float32), "facing": np.empty((n, seq_len), dtype=np.int64), "angle": np.empty((n, seq_len), dtype=np.float32),
    }
    for o in range(objects):
        rng = np.random.default_rng([seed, SPLITS.index(split), o])
        obj = sample_object(rng)
        parts = primitives(obj)
        for k in range(per_object):
            i = o * per_object + k
            start, axis, speed = random_rotation(rng), rng.normal(size=3), rng.uniform(*SPEED_RANGE)
            axis /= np.linalg.norm(axis)
            orientations = np.stack([rotation(axis, speed * t) @ start for t in range(seq_len)])
            out["frames"][i] = np.round(render_frames(parts, orientations) * 255).astype(np.uint8)
            out["facing"][i] = [facing_sector(orientation) for orientation in orientations]
            out["angle"][i] = speed * np.arange(seq_len)
            out["style"][i], out["leg_type"][i], out["arms"][i] = 2 * obj["leg_type"] + obj["arms"], obj["leg_type"], obj["arms"]
            out["shape"][i], out["axis"][i], out["speed"][i] = list(obj["shape"].values()), axis, speed
    return out


def split_settings(split: str, objects: int, per_object: int, seq_len: int, seed: int) -> dict:
    """The generator settings that key a split's cache entry."""
    return {"dataset": "rotating_objects", "substitute_for": "G&W 2016 §4 rotating chairs", "version": GENERATOR_VERSION,
            "split": split, "objects": objects, "sequences_per_object": per_object, "seq_len": seq_len, "seed": seed,
            "frame_size": FRAME_SIZE, "supersample": SUPERSAMPLE, "fit_radius": FIT_RADIUS, "speed_range": list(SPEED_RANGE),
            "light": LIGHT.tolist(), "ambient": AMBIENT, "facing_bins": FACING_BINS,
            "shape_ranges": {k: list(v) for k, v in SHAPE_RANGES.items()}}


LABELS_INFO: dict[str, Any] = {
    "object": {"identity": True, "description": "object index within its split"},
    "style": {"num_classes": len(STYLES), "names": STYLES},
    "leg_type": {"num_classes": 2, "names": ("box", "cylinder")},
    "arms": {"num_classes": 2, "names": ("no armrests", "armrests")},
    "shape": {"names": tuple(SHAPE_RANGES)},
    "axis": {"description": "unit rotation axis, world frame"},
    "speed": {"units": "radians per frame"},
    "facing": {"per_frame": True, "num_classes": FACING_BINS, "description": "image-plane direction of the seat's front, 45-degree sectors"},
    "angle": {"per_frame": True, "units": "radians turned since frame 0"},
}


class RotatingObjectsDataset(ArraySequenceDataset):
    """Rotating chair-like objects: {"x": (16, 3, 64, 64) in [0, 1], object, style, leg_type, arms, shape, axis, speed, facing, angle}."""

    name = "rotating_objects"
    frame_shape = (3, FRAME_SIZE, FRAME_SIZE)
    seq_len = DEFAULT_SEQ_LEN
    labels_info = LABELS_INFO
    pixel_scale = 1.0 / 255.0
    label_keys = ("object", "style", "leg_type", "arms", "shape", "axis", "speed", "facing", "angle")

    def __init__(self, split: str, objects: int | None = None, sequences_per_object: int = DEFAULT_SEQUENCES_PER_OBJECT,
                 seq_len: int = DEFAULT_SEQ_LEN, seed: int = 0, cache_dir: str | os.PathLike[str] | None = None) -> None:
        """Load (rendering on first use) a split; ``objects`` null = 500 train / 125 test objects."""
        check_split(split)
        objects = check_int("objects", DEFAULT_OBJECTS[split] if objects is None else objects, 1, MAX_OBJECTS)
        per_object = check_int("sequences_per_object", sequences_per_object, 1, 1000)
        self.seq_len = check_int("seq_len", seq_len, 1, MAX_SEQ_LEN)
        seed = check_int("seed", seed, 0, 2**63 - 1)
        self.split = split
        build = partial(generate_split, split, objects, per_object, self.seq_len, seed)
        super().__init__(load_or_build(f"rotating_objects-{split}", split_settings(split, objects, per_object, self.seq_len, seed), build, cache_dir))
