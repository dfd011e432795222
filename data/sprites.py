"""The DSA "Sprites" data set (Li & Mandt 2018), generated from the vendored LPC layers.

Follows data/raw/lpc_sprites/RECIPE.md ("§n" below). Each split is one cache
entry ``sprites-<split>-<key>`` with arrays (n = characters, N = 9 n sequences):

* ``frames``     uint8 (N, 8, 64, 64, 3), RGB, channels last;
* ``attributes`` int64 (N, 4): [body, bottomwear, topwear, hair], each in 0..5;
* ``action``     int64 (N,): 3 * action + direction, actions [walk, spellcast,
  slash], directions [front=0, left=1, right=2] (§5);
* ``character``  int64 (N,): body*216 + bottomwear*36 + topwear*6 + hair (§4).

Sequence order: characters in split-permutation order (§4), and for each
character its 9 sequences by label 0..8 (walk-front, walk-left, walk-right,
spellcast-front, ..., slash-right), i.e. sequence i is character i // 9 with
label i % 9. (Upstream instead groups by action and then shuffles with
seed 0; only the order differs, not the set of sequences.)
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from PIL import Image

from .base import ArraySequenceDataset
from .cache import load_or_build
from .errors import DataError

RAW_DIR = Path(__file__).resolve().parent / "raw" / "lpc_sprites"
GENERATOR_VERSION = 1

# §1: attributes in compositing order, six variants each (index = file name).
ATTRIBUTE_NAMES = ("body", "bottomwear", "topwear", "hair")
ATTRIBUTE_VALUES = {
    "body": ("light", "tanned2", "darkelf", "darkelf2", "dark", "dark2"),
    "bottomwear": ("white pants", "golden greaves", "red pants", "metal pants", "teal pants", "formal pants"),
    "topwear": ("maroon shirt", "teal shirt", "white shirt", "plate chest", "leather chest", "formal shirt+tie"),
    "hair": ("messy2 green", "longknot blue", "messy1 light blonde", "bangs white", "plain ruby red", "jewfro purple"),
}
NUM_CLASSES = (6, 6, 6, 6)
SHOES_FILE = "shoes/1.png"
LAYER_FILES = tuple(f"{a}/{i}.png" for a in ATTRIBUTE_NAMES for i in range(6)) + (SHOES_FILE,)

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
CELL = 64
SEQ_LEN = 8
SHEET_SIZE = (832, 1344)
_BAND_COLS = 9  # columns 0..8 hold every cell used (§3)

# §4: characters and the train/test split.
N_CHARACTERS = 6**4
SPLIT_SEED = 423
N_TRAIN = 1000
SPLIT_SIZES = {"train": N_TRAIN, "test": N_CHARACTERS - N_TRAIN}
PIXEL_SCALE = 1.0 / 256.0  # §5: /256, not /255


def char_index(body: int, bottomwear: int, topwear: int, hair: int) -> int:
    """Return the character index of four attribute values (§4)."""
    return ((body * 6 + bottomwear) * 6 + topwear) * 6 + hair


def attributes_of(char: int) -> tuple[int, int, int, int]:
    """Return [body, bottomwear, topwear, hair] of a character index (§4)."""
    return char // 216, char // 36 % 6, char // 6 % 6, char % 6


def char_code(char: int) -> str:
    """Return the upstream 4-digit code of a character index, e.g. 777 -> '3333'."""
    return "".join(str(v) for v in attributes_of(char))


def parse_character(code_or_index: int | str | Sequence[int]) -> int:
    """Return the character index of an index, a 4-digit code or 4 attribute values."""
    if isinstance(code_or_index, (int, np.integer)) and not isinstance(code_or_index, bool):
        char = int(code_or_index)
    elif isinstance(code_or_index, str) and len(code_or_index) == 4 and set(code_or_index) <= set("012345"):
        char = char_index(*(int(c) for c in code_or_index))
    elif isinstance(code_or_index, Sequence) and len(code_or_index) == 4 and not isinstance(code_or_index, str):
        if not all(isinstance(v, (int, np.integer)) and 0 <= v < 6 for v in code_or_index):
            raise DataError(f"attribute values must be ints in 0..5, got {code_or_index!r}")
        char = char_index(*(int(v) for v in code_or_index))
    else:
        raise DataError(f"not a character: {code_or_index!r} (want index 0..1295, code like '5131' or 4 ints)")
    if not 0 <= char < N_CHARACTERS:
        raise DataError(f"character index {char} out of range 0..{N_CHARACTERS - 1}")
    return char


def split_characters(split: str) -> np.ndarray:
    """Return the character indices of a split in permutation order (§4)."""
    check_split(split)
    permutation = np.random.RandomState(SPLIT_SEED).permutation(N_CHARACTERS)
    return permutation[:N_TRAIN] if split == "train" else permutation[N_TRAIN:]


def check_split(split: str) -> None:
    """Raise DataError unless split is 'train' or 'test'."""
    if split not in SPLIT_SIZES:
        raise DataError(f"unknown split {split!r}; valid: {', '.join(SPLIT_SIZES)}")


def check_subset(split: str, n_characters: int | None) -> int:
    """Return the number of characters to take from a split, validating the subset knob."""
    check_split(split)
    limit = SPLIT_SIZES[split]
    if n_characters is None:
        return limit
    is_int = isinstance(n_characters, (int, np.integer)) and not isinstance(n_characters, bool)
    if not is_int or not 1 <= n_characters <= limit:
        raise DataError(f"{split}_characters must be an int in [1, {limit}] or None, got {n_characters!r}")
    return int(n_characters)


def _read_checksums(raw_dir: Path) -> dict[str, str]:
    """Return {relative path: sha256} from the raw folder's SHA256SUMS."""
    sums = raw_dir / "SHA256SUMS"
    if not sums.is_file():
        raise DataError(f"missing {sums}; restore data/raw/lpc_sprites from git")
    entries = (line.split(maxsplit=1) for line in sums.read_text().splitlines() if line.strip())
    return {path.strip().lstrip("*"): digest for digest, path in entries}


def layers_digest(raw_dir: Path = RAW_DIR) -> str:
    """Return a digest of the listed checksums of every layer file, for cache keys."""
    sums = _read_checksums(Path(raw_dir))
    lines = "".join(f"{sums.get(f, 'missing')}  {f}\n" for f in LAYER_FILES)
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


def _verified_bytes(raw_dir: Path, rel: str, sums: dict[str, str]) -> bytes:
    """Read one vendored file and check it against SHA256SUMS."""
    path = raw_dir / rel
    if not path.is_file():
        raise DataError(f"missing vendored file {path}; restore data/raw/lpc_sprites from git")
    data = path.read_bytes()
    if rel not in sums or hashlib.sha256(data).hexdigest() != sums[rel]:
        raise DataError(f"vendored file {path} fails its SHA256SUMS check; restore it from git")
    return data


def _band_image(png: bytes) -> Image.Image:
    """Convert a layer to RGBA (§2.2) and keep only the walk, spellcast and slash row bands (§3)."""
    with Image.open(io.BytesIO(png)) as layer:
        if layer.size != SHEET_SIZE:
            raise DataError(f"layer sheet is {layer.size}, expected {SHEET_SIZE} (§1)")
        rgba = np.asarray(layer.convert("RGBA"))
    bands = [rgba[CELL * min(SHEET_ROWS[a]) : CELL * (min(SHEET_ROWS[a]) + 3), : CELL * _BAND_COLS] for a in ACTIONS]
    return Image.fromarray(np.ascontiguousarray(np.concatenate(bands)), "RGBA")


def load_layers(raw_dir: str | os.PathLike[str] | None = None) -> tuple[list[list[Image.Image]], Image.Image]:
    """Load and verify the layers: ([attribute][variant] band images, shoes band image)."""
    raw = Path(raw_dir) if raw_dir is not None else RAW_DIR
    sums = _read_checksums(raw)
    bands = {rel: _band_image(_verified_bytes(raw, rel, sums)) for rel in LAYER_FILES}
    per_attribute = [[bands[f"{a}/{i}.png"] for i in range(6)] for a in ATTRIBUTE_NAMES]
    return per_attribute, bands[SHOES_FILE]


def _cell_index() -> tuple[np.ndarray, np.ndarray]:
    """Return (band row, column) index arrays of shape (9, 8) for the 9 labelled sequences (§3)."""
    rows = np.zeros((9, SEQ_LEN), dtype=np.int64)
    cols = np.zeros((9, SEQ_LEN), dtype=np.int64)
    for a, action in enumerate(ACTIONS):
        for d, row in enumerate(SHEET_ROWS[action]):
            rows[3 * a + d] = 3 * a + row - min(SHEET_ROWS[action])
            cols[3 * a + d] = SHEET_COLS[action]
    return rows, cols


_ROWS, _COLS = _cell_index()


def _sequences(sheet: Image.Image) -> np.ndarray:
    """Cut a composited band image into the 9 labelled sequences (9, 8, 64, 64, 3) (§3)."""
    rgb = np.asarray(sheet)[..., :3]  # §2.3: opaque result, keep RGB
    cells = rgb.reshape(9, CELL, _BAND_COLS, CELL, 3).transpose(0, 2, 1, 3, 4)
    return cells[_ROWS, _COLS]


def _render_sorted(
    chars: Sequence[int], layers: list[list[Image.Image]], shoes: Image.Image
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (char, sequences) for sorted chars, reusing composites of shared attribute prefixes (§2)."""
    width, height = CELL * _BAND_COLS, 9 * CELL
    stack = [Image.new("RGBA", (width, height), (0, 0, 0, 255))]  # §2.1: opaque black canvas
    previous: tuple[int, ...] = ()
    for char in sorted(chars):
        attrs = attributes_of(char)
        depth = next((k for k in range(4) if k >= len(previous) or previous[k] != attrs[k]), 4)
        del stack[depth + 1 :]
        for k in range(depth, 4):  # §2.2: body -> bottomwear -> topwear -> hair ...
            stack.append(Image.alpha_composite(stack[-1], layers[k][attrs[k]]))
        previous = attrs
        yield char, _sequences(Image.alpha_composite(stack[-1], shoes))  # ... -> shoes/1


def render_character(
    code_or_index: int | str | Sequence[int], raw_dir: str | os.PathLike[str] | None = None
) -> np.ndarray:
    """Render one character as uint8 (3 actions, 3 directions [front, left, right], 8, 64, 64, 3) (§6)."""
    char = parse_character(code_or_index)
    layers, shoes = load_layers(raw_dir)
    _, sequences = next(_render_sorted([char], layers, shoes))
    return sequences.reshape(3, 3, SEQ_LEN, CELL, CELL, 3)


def generate_split(
    split: str, n_characters: int | None = None, raw_dir: str | os.PathLike[str] | None = None
) -> dict[str, np.ndarray]:
    """Generate the arrays of the first n characters of a split (module docstring gives the layout)."""
    n = check_subset(split, n_characters)
    chars = split_characters(split)[:n]
    position = {int(c): i for i, c in enumerate(chars)}
    layers, shoes = load_layers(raw_dir)
    frames = np.empty((9 * n, SEQ_LEN, CELL, CELL, 3), dtype=np.uint8)
    for char, sequences in _render_sorted(list(position), layers, shoes):
        start = 9 * position[char]
        frames[start : start + 9] = sequences
    character = np.repeat(chars.astype(np.int64), 9)
    attributes = np.array([attributes_of(int(c)) for c in character], dtype=np.int64).reshape(-1, 4)
    action = np.tile(np.arange(9, dtype=np.int64), n)
    return {"frames": frames, "attributes": attributes, "action": action, "character": character}


def split_settings(split: str, n_characters: int | None, raw_dir: str | os.PathLike[str] | None = None) -> dict:
    """Return the generator settings that key a split's cache entry."""
    n = check_subset(split, n_characters)
    return {
        "dataset": "sprites",
        "recipe": "DSA 2018, data/raw/lpc_sprites/RECIPE.md",
        "version": GENERATOR_VERSION,
        "split": split,
        "n_characters": n,
        "layers": layers_digest(Path(raw_dir) if raw_dir is not None else RAW_DIR),
    }


def load_split(
    split: str,
    n_characters: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    raw_dir: str | os.PathLike[str] | None = None,
) -> dict[str, np.ndarray]:
    """Return a split's arrays from the cache, generating them on first use."""
    settings = split_settings(split, n_characters, raw_dir)
    return load_or_build(f"sprites-{split}", settings, lambda: generate_split(split, n_characters, raw_dir), cache_dir)


UPSTREAM_URL = "https://raw.githubusercontent.com/YingzhenLi/Sprites/3ce4048c5227802bd8f1888e293fd3afdba91c0c/{path}"


def download_layers(dest: str | os.PathLike[str], url: str = UPSTREAM_URL) -> Path:
    """Fetch the DSA layer sheets from the authors' repository into ``dest``, verified against our SHA256SUMS.

    For installs without the vendored copy; the expected hashes always come from this repository.
    """
    from urllib.request import urlopen

    dest = Path(dest)
    sums = _read_checksums(RAW_DIR)
    for rel in LAYER_FILES:
        target = dest / rel
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == sums[rel]:
            continue
        try:
            with urlopen(url.format(path=rel), timeout=60) as response:
                payload = response.read()
        except OSError as err:
            raise DataError(f"could not download {url.format(path=rel)}: {err}") from err
        if hashlib.sha256(payload).hexdigest() != sums[rel]:
            raise DataError(f"downloaded {rel} does not match its SHA256SUMS entry; not using it")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(payload)
    (dest / "SHA256SUMS").write_text("".join(f"{sums[rel]}  {rel}\n" for rel in LAYER_FILES))
    return dest


LABELS_INFO = {
    "attributes": {"names": ATTRIBUTE_NAMES, "num_classes": NUM_CLASSES, "values": ATTRIBUTE_VALUES},
    "action": {"num_classes": len(ACTION_NAMES), "names": ACTION_NAMES, "actions": ACTIONS, "directions": DIRECTIONS},
    "character": {"num_classes": N_CHARACTERS},
}


class SpritesDataset(ArraySequenceDataset):
    """DSA Sprites split as a torch Dataset of {"x": (8, 3, 64, 64) in [0, 255/256], labels}."""

    name = "sprites"
    frame_shape = (3, CELL, CELL)
    seq_len = SEQ_LEN
    labels_info = LABELS_INFO
    pixel_scale = PIXEL_SCALE
    label_keys = ("attributes", "action", "character")

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

        ``download=True`` fetches missing layer sheets into ``raw_dir`` (required then) from the DSA repository.
        """
        check_split(split)
        if download:
            if raw_dir is None:
                raise DataError("download=true needs raw_dir=<folder> to download the layer sheets into")
            download_layers(raw_dir)
        counts = {"train": check_subset("train", train_characters), "test": check_subset("test", test_characters)}
        self.split = split
        self.n_characters = counts[split]
        super().__init__(load_split(split, counts[split], cache_dir, raw_dir))
