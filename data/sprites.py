"""The Sprites data sets: one generator over the vendored LPC layers, three settings.

``SpriteVariant`` holds everything that tells the variants apart: the layer table
(attributes, their values and files), the compositing order, the canvas, the
sheet cells of every sequence, and the split rule. The generator below reads only
a variant; each data set is one instance (data/raw/lpc_sprites/README.md lists
every difference from the papers):

* ``DSA``       registry name ``sprites`` (Li & Mandt 2018; RECIPE.md §1–§6, "§n" below);
* ``VDSM``      ``sprites_vdsm`` (Vowels et al. 2021 §4; RECIPE.md §7);
* ``HELMINGER`` ``sprites_helminger`` (Helminger et al. 2018, App. A).

Each split is one cache entry ``<name>-<split>-<key>``; n = characters, S = sequences
per character (9, or 1 for HELMINGER), T = frames per sequence (8, or 178), N = S n:

* ``frames``     uint8 (N, T, 64, 64, 3), RGB, channels last;
* ``attributes`` int64 (N, A): one index per attribute, in the variant's label order;
* ``action``     int64 (N,): 3 * action + direction (variants with 9 sequences);
* ``pose``       int64 (N, T, 2): sheet (row, column) of every frame (HELMINGER);
* ``character``  int64 (N,): the attributes as one mixed-radix index (first attribute most significant).

Sequence order: characters in split-permutation order (§4), and for each character
its S sequences by label 0..S-1, i.e. sequence i is character i // S with label i % S.
(Upstream DSA instead groups by action and then shuffles with seed 0; only the order
differs, not the set of sequences.)
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from PIL import Image

from .base import ArraySequenceDataset
from .cache import cache_root, load_or_build
from . import raw_files
from .errors import DataError

RAW_DIR = Path(__file__).resolve().parent / "raw" / "lpc_sprites"
GENERATOR_VERSION = 1
CELL = 64
SHEET_GRID = (21, 13)  # §1: rows, columns of 64 x 64 cells
SHEET_SIZE = (CELL * SHEET_GRID[1], CELL * SHEET_GRID[0])  # PIL (width, height) = (832, 1344)
PIXEL_SCALE = 1.0 / 256.0  # §5: /256, not /255
BLACK = (0, 0, 0, 255)  # §2.1: opaque black canvas

# §1 "Sheet layout": the row groups of the LPC universal sheet and the frames each row holds.
LPC_ACTIONS = (("spellcast", 7), ("thrust", 8), ("walk", 9), ("slash", 6), ("shoot", 13))
LPC_DIRECTIONS = ("back", "left", "front", "right")
LPC_ROW_NAMES = tuple(f"{a}-{d}" for a, _ in LPC_ACTIONS for d in LPC_DIRECTIONS) + ("hurt",)
LPC_ROW_FRAMES = tuple(n for _, n in LPC_ACTIONS for _ in LPC_DIRECTIONS) + (6,)

Cell = tuple[int, int]


@dataclass(frozen=True)
class SpriteVariant:
    """Settings of one Sprites variant: layer table, compositing, canvas, sheet cells and split rule."""

    name: str  # registry and cache-entry name
    recipe: str  # where the variant is specified
    attributes: tuple[str, ...]  # label order of the attributes
    values: tuple[tuple[str, ...], ...]  # per attribute: value names, index = label
    layer_files: tuple[tuple[str, ...], ...]  # per attribute: vendored file of each value
    compositing: tuple[str, ...]  # attributes from bottom to top
    overlays: tuple[str, ...]  # fixed files composited over every character, bottom to top
    canvas: tuple[int, int, int, int]  # RGBA of the canvas everything is composited on
    sequences: tuple[tuple[Cell, ...], ...]  # per sequence label: the (row, column) cell of each frame
    actions: tuple[str, ...]  # sequence label = len(directions) * action + direction; () = one unlabelled sequence
    directions: tuple[str, ...]
    split_seed: int  # legacy RandomState(seed).permutation(characters): first n_train are training
    n_train: int
    pose_labels: bool = False  # store the (row, column) of every frame
    legacy_cache_key: bool = False  # keep the cache key of the DSA generator version 1

    def __post_init__(self) -> None:
        """Check that the tables fit together."""
        if not (len(self.attributes) == len(self.values) == len(self.layer_files)):
            raise ValueError(f"{self.name}: attributes, values and layer_files differ in length")
        if any(len(v) != len(f) for v, f in zip(self.values, self.layer_files)):
            raise ValueError(f"{self.name}: an attribute has a different number of values and files")
        if sorted(self.compositing) != sorted(self.attributes):
            raise ValueError(f"{self.name}: compositing must order exactly the attributes")
        if len({len(s) for s in self.sequences}) != 1 or len(self.sequences) != max(1, self.n_labels):
            raise ValueError(f"{self.name}: sequences must be equally long, one per action-direction label")
        if not all(0 <= r < SHEET_GRID[0] and 0 <= c < SHEET_GRID[1] for s in self.sequences for r, c in s):
            raise ValueError(f"{self.name}: a cell lies outside the {SHEET_GRID} sheet")
        if not 0 < self.n_train < self.n_characters:
            raise ValueError(f"{self.name}: n_train must leave characters for both splits")

    @property
    def num_classes(self) -> tuple[int, ...]:
        """Number of values of each attribute."""
        return tuple(len(v) for v in self.values)

    @property
    def n_characters(self) -> int:
        """Number of characters: one per combination of attribute values."""
        return int(np.prod(self.num_classes))

    @property
    def n_labels(self) -> int:
        """Number of action-direction labels (0 for a single unlabelled sequence)."""
        return len(self.actions) * len(self.directions)

    @property
    def seq_len(self) -> int:
        """Frames per sequence."""
        return len(self.sequences[0])

    @property
    def split_sizes(self) -> dict[str, int]:
        """Characters in each split."""
        return {"train": self.n_train, "test": self.n_characters - self.n_train}

    @property
    def files(self) -> tuple[str, ...]:
        """Every vendored file the variant reads: attribute layers in label order, then overlays."""
        return tuple(f for files in self.layer_files for f in files) + self.overlays

    @property
    def label_names(self) -> tuple[str, ...]:
        """Names of the action-direction labels, e.g. 'walk-front'."""
        return tuple(f"{a}-{d}" for a in self.actions for d in self.directions)

    def spec_digest(self) -> str:
        """Digest of every setting, for cache keys."""
        spec = json.dumps(dataclasses.asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(spec.encode()).hexdigest()[:16]


def action_cells(
    actions: Sequence[str], rows: dict[str, Sequence[int]], cols: dict[str, Sequence[int]]
) -> tuple[tuple[Cell, ...], ...]:
    """Return the cells of 3 * action + direction sequences: rows per direction, shared columns per action."""
    return tuple(tuple((row, col) for col in cols[a]) for a in actions for row in rows[a])


def lpc_sheet_cells() -> tuple[Cell, ...]:
    """Return every drawn cell of an LPC universal sheet in sheet (row-major) order (§1): 178 cells."""
    return tuple((row, col) for row, count in enumerate(LPC_ROW_FRAMES) for col in range(count))


# ---------------------------------------------------------------- DSA (Li & Mandt 2018; RECIPE.md §1–§6)
ATTRIBUTE_NAMES = ("body", "bottomwear", "topwear", "hair")  # §1, also the compositing order (§2.2)
ATTRIBUTE_VALUES = {
    "body": ("light", "tanned2", "darkelf", "darkelf2", "dark", "dark2"),
    "bottomwear": ("white pants", "golden greaves", "red pants", "metal pants", "teal pants", "formal pants"),
    "topwear": ("maroon shirt", "teal shirt", "white shirt", "plate chest", "leather chest", "formal shirt+tie"),
    "hair": ("messy2 green", "longknot blue", "messy1 light blonde", "bangs white", "plain ruby red", "jewfro purple"),
}
NUM_CLASSES = (6, 6, 6, 6)
SHOES_FILE = "shoes/1.png"
DSA_LAYER_FILES = tuple(tuple(f"{a}/{i}.png" for i in range(6)) for a in ATTRIBUTE_NAMES)
LAYER_FILES = tuple(f for files in DSA_LAYER_FILES for f in files) + (SHOES_FILE,)

# §3: actions, directions and the sheet cells of each sequence.
ACTIONS = ("walk", "spellcast", "slash")
DIRECTIONS = ("front", "left", "right")
ACTION_NAMES = tuple(f"{a}-{d}" for a in ACTIONS for d in DIRECTIONS)
SHEET_ROWS = {"walk": (10, 9, 11), "spellcast": (2, 1, 3), "slash": (14, 13, 15)}  # (front, left, right)
SHEET_COLS = {
    "walk": (8, 1, 2, 3, 4, 5, 6, 7),
    "spellcast": (0, 1, 2, 3, 4, 5, 4, 6),
    "slash": (0, 1, 2, 3, 4, 5, 4, 0),
}
SEQ_LEN = 8

# §4: characters and the train/test split.
N_CHARACTERS = 6**4
SPLIT_SEED = 423
N_TRAIN = 1000
SPLIT_SIZES = {"train": N_TRAIN, "test": N_CHARACTERS - N_TRAIN}

DSA = SpriteVariant(
    name="sprites",
    recipe="DSA 2018, data/raw/lpc_sprites/RECIPE.md",
    attributes=ATTRIBUTE_NAMES,
    values=tuple(ATTRIBUTE_VALUES[a] for a in ATTRIBUTE_NAMES),
    layer_files=DSA_LAYER_FILES,
    compositing=ATTRIBUTE_NAMES,  # §2.2: body -> bottomwear -> topwear -> hair -> shoes/1
    overlays=(SHOES_FILE,),
    canvas=BLACK,
    sequences=action_cells(ACTIONS, SHEET_ROWS, SHEET_COLS),
    actions=ACTIONS,
    directions=DIRECTIONS,
    split_seed=SPLIT_SEED,
    n_train=N_TRAIN,
    legacy_cache_key=True,
)

# ---------------------------------------------------------------- VDSM (Vowels et al. 2021 §4; RECIPE.md §7)
# The layer table of the yatindandi/VDSM script: 7 bodies x 4 long-sleeve shirts x 5 legs x 6 "plain" hair
# colours = 840 characters (the paper's text says 8 hairstyles and 1120; its classifier has 6 hair classes).
_VDSM_EXTRA = "vdsm_variant"
VDSM_ATTRIBUTES = ("body", "shirt", "pants", "hair")  # label order of the VDSM classifier
VDSM_VALUES = {
    "body": ("light", "dark", "dark2", "darkelf", "darkelf2", "tanned", "tanned2"),
    "shirt": ("brown", "teal", "maroon", "white"),
    "pants": ("magenta pants", "red pants", "teal pants", "white pants", "robe skirt"),
    "hair": ("green", "blue", "pink", "raven", "white", "dark blonde"),
}
VDSM_FILES = {
    "body": ("body/0.png", "body/4.png", "body/5.png", "body/2.png", "body/3.png",
             f"{_VDSM_EXTRA}/body/male/tanned.png", "body/1.png"),
    "shirt": (f"{_VDSM_EXTRA}/torso/shirts/longsleeve/male/brown_longsleeve.png",
              "topwear/1.png", "topwear/0.png", "topwear/2.png"),
    "pants": (f"{_VDSM_EXTRA}/legs/pants/male/magenta_pants_male.png", "bottomwear/2.png", "bottomwear/4.png",
              "bottomwear/0.png", f"{_VDSM_EXTRA}/legs/skirt/male/robe_skirt_male.png"),
    "hair": tuple(f"{_VDSM_EXTRA}/hair/male/plain/{c}.png"
                  for c in ("green", "blue", "pink", "raven", "white", "dark-blonde")),
}  # fmt: skip
VDSM_DIRECTIONS = ("left", "front", "right")  # sheet row order, as the VDSM labels count them
# RECIPE §7: VDSM's columns; slash rows 13-15, not VDSM's 14-16 (its row 16 is the shoot/back row, a bug).
VDSM_ROWS = {"walk": (9, 10, 11), "spellcast": (1, 2, 3), "slash": (13, 14, 15)}
VDSM_COLS = {
    "walk": (0, 1, 2, 3, 4, 5, 6, 7),
    "spellcast": (0, 1, 2, 3, 4, 5, 6, 6),
    "slash": (0, 1, 2, 3, 4, 5, 5, 5),
}
VDSM_SPLIT_SEED = 2021
VDSM_N_TEST = 84  # 10 % of 840 identities held out (VDSM §4), by a seeded permutation

VDSM = SpriteVariant(
    name="sprites_vdsm",
    recipe="VDSM 2021 §4, data/raw/lpc_sprites/RECIPE.md §7 and README.md",
    attributes=VDSM_ATTRIBUTES,
    values=tuple(VDSM_VALUES[a] for a in VDSM_ATTRIBUTES),
    layer_files=tuple(VDSM_FILES[a] for a in VDSM_ATTRIBUTES),
    compositing=("body", "pants", "shirt", "hair"),  # body -> legs -> torso -> hair, no shoes
    overlays=(),
    canvas=BLACK,
    sequences=action_cells(ACTIONS, VDSM_ROWS, VDSM_COLS),
    actions=ACTIONS,
    directions=VDSM_DIRECTIONS,
    split_seed=VDSM_SPLIT_SEED,
    n_train=7 * 4 * 5 * 6 - VDSM_N_TEST,
)

# ---------------------------------------------------------------- Helminger et al. 2018, App. A
# The DSA characters and compositing, but every drawn cell of the sheet (178 poses) as one unordered set.
HELMINGER = dataclasses.replace(
    DSA,
    name="sprites_helminger",
    recipe="Helminger 2018 App. A, data/raw/lpc_sprites/README.md",
    sequences=(lpc_sheet_cells(),),
    actions=(),
    directions=(),
    pose_labels=True,
    legacy_cache_key=False,
)

VARIANTS = {v.name: v for v in (DSA, VDSM, HELMINGER)}


# ---------------------------------------------------------------- characters and splits
def character_of(attrs: Sequence[int], variant: SpriteVariant = DSA) -> int:
    """Return the mixed-radix character index of attribute values (§4; first attribute most significant)."""
    char = 0
    for value, radix in zip(attrs, variant.num_classes):
        char = char * radix + int(value)
    return char


def attributes_from(char: int, variant: SpriteVariant = DSA) -> tuple[int, ...]:
    """Return the attribute values of a character index (inverse of character_of)."""
    values = []
    for radix in reversed(variant.num_classes):
        char, value = divmod(char, radix)
        values.append(value)
    return tuple(reversed(values))


def char_index(body: int, bottomwear: int, topwear: int, hair: int) -> int:
    """Return the DSA character index of four attribute values (§4)."""
    return character_of((body, bottomwear, topwear, hair))


def attributes_of(char: int) -> tuple[int, int, int, int]:
    """Return DSA [body, bottomwear, topwear, hair] of a character index (§4)."""
    return attributes_from(char)  # type: ignore[return-value]


def char_code(char: int, variant: SpriteVariant = DSA) -> str:
    """Return the upstream digit code of a character index, e.g. DSA 777 -> '3333'."""
    return "".join(str(v) for v in attributes_from(char, variant))


def _is_int(value: object) -> bool:
    """True for Python or NumPy integers, not bools."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def parse_character(code_or_index: int | str | Sequence[int], variant: SpriteVariant = DSA) -> int:
    """Return the character index of an index, a digit code or a sequence of attribute values."""
    n_attrs, last = len(variant.attributes), variant.n_characters - 1
    if _is_int(code_or_index):
        char = int(code_or_index)  # type: ignore[arg-type]
    elif isinstance(code_or_index, str) and len(code_or_index) == n_attrs and code_or_index.isdigit():
        char = _checked_character([int(c) for c in code_or_index], variant)
    elif isinstance(code_or_index, Sequence) and not isinstance(code_or_index, str) and len(code_or_index) == n_attrs:
        char = _checked_character(code_or_index, variant)
    else:
        want = f"index 0..{last}, a {n_attrs}-digit code or {n_attrs} ints"
        raise DataError(f"not a character: {code_or_index!r} (want {want})")
    if not 0 <= char <= last:
        raise DataError(f"character index {char} out of range 0..{last}")
    return char


def _checked_character(values: Sequence[object], variant: SpriteVariant) -> int:
    """Return the character of attribute values after checking each against its number of classes."""
    if not all(_is_int(v) and 0 <= v < k for v, k in zip(values, variant.num_classes)):  # type: ignore[operator]
        raise DataError(f"attribute values must be ints below {variant.num_classes}, got {values!r}")
    return character_of([int(v) for v in values], variant)  # type: ignore[call-overload]


def check_split(split: str, variant: SpriteVariant = DSA) -> None:
    """Raise DataError unless split is 'train' or 'test'."""
    if split not in variant.split_sizes:
        raise DataError(f"unknown split {split!r}; valid: {', '.join(variant.split_sizes)}")


def split_characters(split: str, variant: SpriteVariant = DSA) -> np.ndarray:
    """Return the character indices of a split in permutation order (§4; VDSM: seeded, not torch.rand)."""
    check_split(split, variant)
    permutation = np.random.RandomState(variant.split_seed).permutation(variant.n_characters)
    return permutation[: variant.n_train] if split == "train" else permutation[variant.n_train :]


def check_subset(split: str, n_characters: int | None, variant: SpriteVariant = DSA) -> int:
    """Return the number of characters to take from a split, validating the subset knob."""
    check_split(split, variant)
    limit = variant.split_sizes[split]
    if n_characters is None:
        return limit
    if not _is_int(n_characters) or not 1 <= n_characters <= limit:
        raise DataError(f"{split}_characters must be an int in [1, {limit}] or None, got {n_characters!r}")
    return int(n_characters)


# ---------------------------------------------------------------- vendored layers
def _read_checksums(raw_dir: Path) -> dict[str, str]:
    """Return {relative path: sha256} from the raw folder's SHA256SUMS."""
    return raw_files.read_checksums(raw_dir, "data/raw/lpc_sprites")


def _raw(raw_dir: str | os.PathLike[str] | None) -> Path:
    """Return the raw folder: the argument or the vendored copy."""
    return Path(raw_dir) if raw_dir is not None else RAW_DIR


def layers_digest(raw_dir: str | os.PathLike[str] | None = RAW_DIR, variant: SpriteVariant = DSA) -> str:
    """Return a digest of the listed checksums of every layer file of a variant, for cache keys."""
    return raw_files.listed_digest(_read_checksums(_raw(raw_dir)), variant.files)


def _verified_bytes(raw_dir: Path, rel: str, sums: dict[str, str]) -> bytes:
    """Read one vendored file and check it against SHA256SUMS."""
    return raw_files.verified_bytes(raw_dir / rel, sums.get(rel), "vendored file", "restore data/raw/lpc_sprites from git")


@functools.lru_cache(maxsize=None)
def _band_layout(variant: SpriteVariant) -> tuple[tuple[int, ...], int]:
    """Return (sheet rows used, in order; number of leading columns used): the band every layer is cut to."""
    cells = [cell for sequence in variant.sequences for cell in sequence]
    return tuple(sorted({r for r, _ in cells})), 1 + max(c for _, c in cells)


def _band_image(png: bytes, variant: SpriteVariant) -> Image.Image:
    """Convert a layer to RGBA (§2.2) and keep only the rows and columns the variant cuts frames from."""
    with Image.open(io.BytesIO(png)) as layer:
        if layer.size != SHEET_SIZE:
            raise DataError(f"layer sheet is {layer.size}, expected {SHEET_SIZE} (§1)")
        rgba = np.asarray(layer.convert("RGBA"))
    rows, n_cols = _band_layout(variant)
    band = rgba.reshape(SHEET_GRID[0], CELL, SHEET_SIZE[0], 4)[list(rows), :, : CELL * n_cols]
    return Image.fromarray(np.ascontiguousarray(band.reshape(-1, CELL * n_cols, 4)), "RGBA")


def load_layers(
    raw_dir: str | os.PathLike[str] | None = None, variant: SpriteVariant = DSA
) -> tuple[list[list[Image.Image]], list[Image.Image]]:
    """Load and verify a variant's layers: ([compositing slot][value] band images, overlay band images)."""
    raw = _raw(raw_dir)
    sums = _read_checksums(raw)
    bands = {rel: _band_image(_verified_bytes(raw, rel, sums), variant) for rel in dict.fromkeys(variant.files)}
    slots = [variant.layer_files[variant.attributes.index(a)] for a in variant.compositing]
    return [[bands[rel] for rel in files] for files in slots], [bands[rel] for rel in variant.overlays]


# ---------------------------------------------------------------- rendering
@functools.lru_cache(maxsize=None)
def _cell_index(variant: SpriteVariant) -> tuple[np.ndarray, np.ndarray]:
    """Return (band row, column) index arrays of shape (S, T) for the variant's sequences (§3)."""
    rows, _ = _band_layout(variant)
    cells = np.array(variant.sequences, dtype=np.int64)  # (S, T, 2)
    return np.searchsorted(np.array(rows), cells[..., 0]), cells[..., 1]


def _sequences(sheet: Image.Image, variant: SpriteVariant) -> np.ndarray:
    """Cut a composited band image into the variant's sequences (S, T, 64, 64, 3) (§3)."""
    rows, n_cols = _band_layout(variant)
    rgb = np.asarray(sheet)[..., :3]  # §2.3: opaque result, keep RGB
    cells = rgb.reshape(len(rows), CELL, n_cols, CELL, 3).transpose(0, 2, 1, 3, 4)
    band_rows, cols = _cell_index(variant)
    return cells[band_rows, cols]


def _render_sorted(
    chars: Sequence[int], variant: SpriteVariant, layers: list[list[Image.Image]], overlays: list[Image.Image]
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (char, sequences), sorted by compositing order so composites of shared layer prefixes are reused (§2)."""
    rows, n_cols = _band_layout(variant)
    order = [variant.attributes.index(a) for a in variant.compositing]
    keyed = sorted((tuple(attributes_from(c, variant)[k] for k in order), int(c)) for c in chars)
    stack = [Image.new("RGBA", (CELL * n_cols, CELL * len(rows)), variant.canvas)]  # §2.1
    previous: tuple[int, ...] = ()
    for key, char in keyed:
        depth = next((k for k in range(len(key)) if k >= len(previous) or previous[k] != key[k]), len(key))
        del stack[depth + 1 :]
        for k in range(depth, len(key)):  # §2.2: compositing slots, bottom to top ...
            stack.append(Image.alpha_composite(stack[-1], layers[k][key[k]]))
        previous = key
        sheet = stack[-1]
        for overlay in overlays:  # ... then the fixed overlays (DSA: shoes/1)
            sheet = Image.alpha_composite(sheet, overlay)
        yield char, _sequences(sheet, variant)


def render_character(
    code_or_index: int | str | Sequence[int],
    raw_dir: str | os.PathLike[str] | None = None,
    variant: SpriteVariant = DSA,
) -> np.ndarray:
    """Render one character as uint8 (actions, directions, T, 64, 64, 3), or (T, 64, 64, 3) for one sequence (§6)."""
    char = parse_character(code_or_index, variant)
    layers, overlays = load_layers(raw_dir, variant)
    _, sequences = next(_render_sorted([char], variant, layers, overlays))
    grid = (len(variant.actions), len(variant.directions)) if variant.n_labels else ()
    return sequences.reshape(*grid, variant.seq_len, CELL, CELL, 3)


def _frames_buffer(shape: tuple[int, ...], scratch_dir: Path | None) -> np.ndarray:
    """Return an uint8 array to render into: in memory, or backed by an unlinked temp file in scratch_dir."""
    if scratch_dir is None:
        return np.empty(shape, dtype=np.uint8)
    with tempfile.TemporaryFile(dir=scratch_dir) as handle:  # the mapping outlives the closed, unlinked file
        return np.memmap(handle, dtype=np.uint8, mode="w+", shape=shape)


def generate_split(
    split: str,
    n_characters: int | None = None,
    raw_dir: str | os.PathLike[str] | None = None,
    variant: SpriteVariant = DSA,
    scratch_dir: str | os.PathLike[str] | None = None,
) -> dict[str, np.ndarray]:
    """Generate the arrays of the first n characters of a split (the module docstring gives the layout).

    With ``scratch_dir`` the frames are rendered into a file-backed map there, so a multi-GB split
    does not have to fit in memory.
    """
    n = check_subset(split, n_characters, variant)
    chars = split_characters(split, variant)[:n]
    per_char = max(1, variant.n_labels)
    position = {int(c): i for i, c in enumerate(chars)}
    layers, overlays = load_layers(raw_dir, variant)
    shape = (per_char * n, variant.seq_len, CELL, CELL, 3)
    frames = _frames_buffer(shape, Path(scratch_dir) if scratch_dir is not None else None)
    for char, sequences in _render_sorted(list(position), variant, layers, overlays):
        start = per_char * position[char]
        frames[start : start + per_char] = sequences
    character = np.repeat(chars.astype(np.int64), per_char)
    attributes = np.array([attributes_from(int(c), variant) for c in chars], dtype=np.int64)
    arrays = {"frames": frames, "attributes": np.repeat(attributes, per_char, axis=0)}
    if variant.n_labels:
        arrays["action"] = np.tile(np.arange(per_char, dtype=np.int64), n)
    if variant.pose_labels:
        cells = np.array(variant.sequences, dtype=np.int64)
        arrays["pose"] = np.ascontiguousarray(np.tile(cells, (n, 1, 1)))
    arrays["character"] = character
    return arrays


def split_settings(
    split: str,
    n_characters: int | None,
    raw_dir: str | os.PathLike[str] | None = None,
    variant: SpriteVariant = DSA,
) -> dict:
    """Return the generator settings that key a split's cache entry (DSA keeps its version-1 keys)."""
    n = check_subset(split, n_characters, variant)
    settings = {
        "dataset": variant.name,
        "recipe": variant.recipe,
        "version": GENERATOR_VERSION,
        "split": split,
        "n_characters": n,
        "layers": layers_digest(raw_dir, variant),
    }
    if not variant.legacy_cache_key:
        settings["spec"] = variant.spec_digest()
    return settings


def load_split(
    split: str,
    n_characters: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    raw_dir: str | os.PathLike[str] | None = None,
    variant: SpriteVariant = DSA,
) -> dict[str, np.ndarray]:
    """Return a split's arrays from the cache (memory-mapped), generating them on first use."""
    settings = split_settings(split, n_characters, raw_dir, variant)
    scratch = cache_root(cache_dir)  # load_or_build creates it before building

    def build() -> dict[str, np.ndarray]:
        return generate_split(split, n_characters, raw_dir, variant, scratch)

    return load_or_build(f"{variant.name}-{split}", settings, build, cache_dir)


# ---------------------------------------------------------------- public download path
UPSTREAM_URL = "https://raw.githubusercontent.com/YingzhenLi/Sprites/3ce4048c5227802bd8f1888e293fd3afdba91c0c/{path}"
UNIVERSAL_LPC_URL = (
    "https://raw.githubusercontent.com/jrconway3/Universal-LPC-spritesheet/"
    "2668274d5a96c91584172f2d299b90f0a8c0caac/{path}"
)


def _source_url(rel: str, url: str) -> str:
    """Return where a vendored file comes from: DSA repository, or Universal-LPC for vdsm_variant/ files."""
    prefix = f"{_VDSM_EXTRA}/"
    return UNIVERSAL_LPC_URL.format(path=rel[len(prefix) :]) if rel.startswith(prefix) else url.format(path=rel)


def download_layers(dest: str | os.PathLike[str], url: str = UPSTREAM_URL, variant: SpriteVariant = DSA) -> Path:
    """Fetch a variant's layer sheets into ``dest``, verified against our SHA256SUMS.

    DSA files come from the DSA authors' repository (``url``), vdsm_variant/ files from Universal-LPC.
    For installs without the vendored copy; the expected hashes always come from this repository.
    """
    dest = Path(dest)
    sums = _read_checksums(RAW_DIR)
    for rel in variant.files:
        if not raw_files.holds(dest / rel, sums[rel]):
            raw_files.write_atomically(dest / rel, raw_files.download_verified([_source_url(rel, url)], sums[rel], rel))
    good = [rel for rel in sums if raw_files.holds(dest / rel, sums[rel])]
    (dest / "SHA256SUMS").write_text("".join(f"{sums[rel]}  {rel}\n" for rel in good))
    return dest


# ---------------------------------------------------------------- torch datasets
def labels_info_of(variant: SpriteVariant) -> dict:
    """Return the labels_info of a variant's dataset: class counts and names of every label."""
    info: dict = {
        "attributes": {
            "names": variant.attributes,
            "num_classes": variant.num_classes,
            "values": dict(zip(variant.attributes, variant.values)),
        }
    }
    if variant.n_labels:
        info["action"] = {
            "num_classes": variant.n_labels,
            "names": variant.label_names,
            "actions": variant.actions,
            "directions": variant.directions,
        }
    if variant.pose_labels:
        info["pose"] = {"fields": ("row", "column"), "row_names": LPC_ROW_NAMES, "grid": SHEET_GRID}
    info["character"] = {"num_classes": variant.n_characters}
    return info


def label_keys_of(variant: SpriteVariant) -> tuple[str, ...]:
    """Return the label arrays a variant stores, in item order."""
    optional = (("action",) if variant.n_labels else ()) + (("pose",) if variant.pose_labels else ())
    return ("attributes", *optional, "character")


LABELS_INFO = labels_info_of(DSA)


class SpritesVariantDataset(ArraySequenceDataset):
    """A split of one Sprites variant (class attribute ``variant``), memory-mapped from the cache."""

    variant: SpriteVariant = DSA
    frame_shape = (3, CELL, CELL)
    pixel_scale = PIXEL_SCALE

    def __init__(
        self,
        split: str,
        train_characters: int | None = None,
        test_characters: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        raw_dir: str | os.PathLike[str] | None = None,
        download: bool = False,
    ) -> None:
        """Load (generating on first use) the first train/test_characters characters of a split.

        ``download=True`` fetches missing layer sheets into ``raw_dir`` (required then) from GitHub.
        """
        variant = self.variant
        check_split(split, variant)
        if download:
            if raw_dir is None:
                raise DataError("download=true needs raw_dir=<folder> to download the layer sheets into")
            download_layers(raw_dir, variant=variant)
        counts = {
            "train": check_subset("train", train_characters, variant),
            "test": check_subset("test", test_characters, variant),
        }
        self.split = split
        self.n_characters = counts[split]
        super().__init__(load_split(split, counts[split], cache_dir, raw_dir, variant))


class SpritesDataset(SpritesVariantDataset):
    """DSA Sprites split as a torch Dataset of {"x": (8, 3, 64, 64) in [0, 255/256], labels}."""

    variant = DSA
    name = DSA.name
    seq_len = DSA.seq_len
    labels_info = LABELS_INFO
    label_keys = label_keys_of(DSA)


class SpritesVDSMDataset(SpritesVariantDataset):
    """VDSM-style Sprites (840 characters, 7/4/5/6 classes): {"x": (8, 3, 64, 64), attributes, action, character}."""

    variant = VDSM
    name = VDSM.name
    seq_len = VDSM.seq_len
    labels_info = labels_info_of(VDSM)
    label_keys = label_keys_of(VDSM)


class SpritesHelmingerDataset(SpritesVariantDataset):
    """Helminger Sprites: every pose of a character as one unordered set {"x": (178, 3, 64, 64), pose, ...}."""

    variant = HELMINGER
    name = HELMINGER.name
    seq_len = HELMINGER.seq_len
    labels_info = labels_info_of(HELMINGER)
    label_keys = label_keys_of(HELMINGER)
