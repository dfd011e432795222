"""Tests of the DSA Sprites generator and dataset (data/raw/lpc_sprites/RECIPE.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import data
from data import sprites
from data.errors import DataError
from data.sprites import SpritesDataset, render_character, split_characters

RAW = Path(__file__).resolve().parents[1] / "data" / "raw" / "lpc_sprites"
REFERENCE = RAW / "reference" / "dsa_expected_frames.npz"

# RECIPE.md §3, restated here independently of data/sprites.py: (front, left, right) rows, columns for t = 0..7.
ROWS = {"walk": (10, 9, 11), "spellcast": (2, 1, 3), "slash": (14, 13, 15)}
COLS = {"walk": (8, 1, 2, 3, 4, 5, 6, 7), "spellcast": (0, 1, 2, 3, 4, 5, 4, 6), "slash": (0, 1, 2, 3, 4, 5, 4, 0)}
ORDER = ("walk", "spellcast", "slash")


def sheet(rel: str) -> np.ndarray:
    """Load one vendored layer sheet as RGBA (832 x 1344)."""
    return np.asarray(Image.open(RAW / rel).convert("RGBA"))


def composite_sheet(attrs: tuple[int, int, int, int]) -> np.ndarray:
    """Composite a full character sheet the plain way (RECIPE §2), RGB."""
    canvas = Image.new("RGBA", (832, 1344), (0, 0, 0, 255))
    files = [f"{kind}/{v}.png" for kind, v in zip(sprites.ATTRIBUTE_NAMES, attrs)] + ["shoes/1.png"]
    for rel in files:
        canvas = Image.alpha_composite(canvas, Image.fromarray(sheet(rel), "RGBA"))
    return np.asarray(canvas)[..., :3]


def cells(full: np.ndarray, label: int) -> np.ndarray:
    """Cut the 8 cells of one action label (3 * action + direction) from a full sheet."""
    action = ORDER[label // 3]
    row = ROWS[action][label % 3]
    return np.stack([full[64 * row : 64 * row + 64, 64 * c : 64 * c + 64] for c in COLS[action]])


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("seqzoo-cache")


@pytest.fixture(scope="module")
def train3(cache_dir: Path) -> SpritesDataset:
    return SpritesDataset("train", train_characters=3, cache_dir=cache_dir)


@pytest.mark.parametrize("key, character", [("code_0000", 0), ("code_5555", 1295), ("code_3333", "3333")])
def test_reference_frames_bit_exact(key: str, character: int | str) -> None:
    expected = np.load(REFERENCE)[key]
    rendered = render_character(character)
    assert rendered.dtype == np.uint8 and rendered.shape == (3, 3, 8, 64, 64, 3)
    np.testing.assert_array_equal(rendered, expected)


def test_split_rule_and_vendored_table() -> None:
    train, test = split_characters("train"), split_characters("test")
    permutation = np.random.RandomState(423).permutation(1296)
    np.testing.assert_array_equal(np.concatenate([train, test]), permutation)
    assert len(train) == 1000 and len(test) == 296 and not set(train) & set(test)
    lines = [line for line in (RAW / "dsa_split.tsv").read_text().splitlines() if not line.startswith("#")]
    assert lines[0].split("\t") == ["split", "row", "char", "code", "body", "bottomwear", "topwear", "hair"]
    rows = [line.split("\t") for line in lines[1:]]
    for split, ids in (("train", train), ("test", test)):
        table = [r for r in rows if r[0] == split]
        assert [int(r[1]) for r in table] == list(range(len(ids)))
        assert [int(r[2]) for r in table] == ids.tolist()
        assert [r[3] for r in table] == [sprites.char_code(int(c)) for c in ids]
        assert [tuple(map(int, r[4:8])) for r in table] == [sprites.attributes_of(int(c)) for c in ids]


def test_item_format(train3: SpritesDataset) -> None:
    assert len(train3) == 27
    assert train3.frame_shape == (3, 64, 64) and train3.seq_len == 8
    assert train3.labels_info["attributes"]["num_classes"] == (6, 6, 6, 6)
    action_names = train3.labels_info["action"]["names"]
    assert len(action_names) == 9 and action_names[4] == "spellcast-left"
    assert train3.frames.dtype == np.uint8 and train3.frames.shape == (27, 8, 64, 64, 3)
    item = train3[5]
    assert set(item) == {"x", "attributes", "action", "character"}
    x = item["x"]
    assert x.dtype == torch.float32 and x.shape == (8, 3, 64, 64)
    assert 0.0 <= x.min() and x.max() <= 255 / 256
    assert torch.equal(x * 256, torch.round(x * 256))
    assert item["attributes"].dtype == torch.long and item["attributes"].shape == (4,)
    assert item["action"].dtype == torch.long and item["action"].shape == ()
    assert item["character"].dtype == torch.long and item["character"].shape == ()
    batch = next(iter(torch.utils.data.DataLoader(train3, batch_size=4)))
    assert batch["x"].shape == (4, 8, 3, 64, 64) and batch["action"].shape == (4,)


def test_labels_follow_documented_order(train3: SpritesDataset) -> None:
    first = split_characters("train")[:3]
    for i in range(len(train3)):
        item = train3[i]
        assert item["character"] == first[i // 9] and item["action"] == i % 9
        assert tuple(item["attributes"].tolist()) == sprites.attributes_of(int(first[i // 9]))
        expected = torch.from_numpy(np.array(train3.frames[i])).permute(0, 3, 1, 2).float() / 256
        assert torch.equal(item["x"], expected)


def test_frames_are_the_labelled_sheet_cells(train3: SpritesDataset) -> None:
    for start in (0, 18):
        item = train3[start]
        full = composite_sheet(tuple(item["attributes"].tolist()))
        for label in range(9):
            assert train3[start + label]["action"] == label
            np.testing.assert_array_equal(train3.frames[start + label], cells(full, label))


def alpha_cells(rel: str) -> np.ndarray:
    """Alpha > 0 mask of one layer, cut like render_character: (3, 3, 8, 64, 64)."""
    alpha = sheet(rel)[..., 3:] > 0
    return np.stack([cells(alpha, label)[..., 0] for label in range(9)]).reshape(3, 3, 8, 64, 64)


@pytest.mark.parametrize(
    "a, b, layer",
    [
        ((2, 1, 0, 0), (2, 1, 0, 4), "hair"),
        ((1, 3, 0, 2), (1, 3, 4, 2), "topwear"),
        ((4, 0, 5, 1), (4, 5, 5, 1), "bottomwear"),
    ],
)
def test_one_attribute_changes_only_its_layer(a: tuple, b: tuple, layer: str) -> None:
    k = sprites.ATTRIBUTE_NAMES.index(layer)
    drawn = alpha_cells(f"{layer}/{a[k]}.png") | alpha_cells(f"{layer}/{b[k]}.png")
    changed = (render_character(a) != render_character(b)).any(axis=-1)
    assert changed.any() and not (changed & ~drawn).any()


def test_subset_is_prefix_of_split(train3: SpritesDataset, cache_dir: Path) -> None:
    train2 = SpritesDataset("train", train_characters=2, test_characters=5, cache_dir=cache_dir)
    np.testing.assert_array_equal(train2.frames, train3.frames[:18])
    np.testing.assert_array_equal(train2.labels["character"], train3.labels["character"][:18])
    test2 = SpritesDataset("test", test_characters=2, cache_dir=cache_dir)
    assert len(test2) == 18 and test2.labels["character"][::9].tolist() == split_characters("test")[:2].tolist()
    assert not set(test2.labels["character"].tolist()) & set(split_characters("train").tolist())


def test_cached_split_is_not_regenerated(
    train3: SpritesDataset, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("regenerated")

    monkeypatch.setattr(sprites, "generate_split", fail)
    again = SpritesDataset("train", train_characters=3, cache_dir=cache_dir)
    np.testing.assert_array_equal(again.frames, train3.frames)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"split": "valid"}, "unknown split 'valid'"),
        ({"split": "train", "train_characters": 0}, r"train_characters must be an int in \[1, 1000\]"),
        ({"split": "train", "train_characters": 1001}, "train_characters"),
        ({"split": "train", "train_characters": 2.5}, "train_characters"),
        ({"split": "train", "train_characters": True}, "train_characters"),
        ({"split": "train", "test_characters": 297}, r"test_characters must be an int in \[1, 296\]"),
    ],
)
def test_bad_arguments_raise_one_line_errors(kwargs: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=message) as info:
        SpritesDataset(cache_dir=tmp_path, **kwargs)
    assert "\n" not in str(info.value) and isinstance(info.value, ValueError)


@pytest.fixture()
def raw_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "raw"
    shutil.copytree(RAW, copy, ignore=shutil.ignore_patterns("vdsm_variant", "reference"))
    return copy


def test_missing_raw_file_is_a_clear_error(raw_copy: Path, tmp_path: Path) -> None:
    (raw_copy / "hair" / "3.png").unlink()
    with pytest.raises(DataError, match=r"missing vendored file .*hair/3\.png"):
        render_character(0, raw_dir=raw_copy)
    with pytest.raises(DataError, match="missing vendored file"):
        SpritesDataset("test", test_characters=1, cache_dir=tmp_path / "cache", raw_dir=raw_copy)


def test_altered_raw_file_fails_checksum(raw_copy: Path) -> None:
    with open(raw_copy / "body" / "0.png", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(DataError, match=r"body/0\.png fails its SHA256SUMS check"):
        render_character(0, raw_dir=raw_copy)
    (raw_copy / "SHA256SUMS").unlink()
    with pytest.raises(DataError, match="missing .*SHA256SUMS"):
        render_character(0, raw_dir=raw_copy)


def test_registry(cache_dir: Path) -> None:
    built = data.build_dataset("sprites", "test", test_characters=1, cache_dir=cache_dir)
    assert isinstance(built, SpritesDataset) and len(built) == 9
    assert data.DATASETS["sprites"] is SpritesDataset
    with pytest.raises(DataError, match="unknown dataset 'no_such_data'; valid: .*sprites"):
        data.build_dataset("no_such_data", "train")


def test_download_path_verifies_against_vendored_checksums(tmp_path, monkeypatch):
    """The public download path, served here from the vendored files; a tampered download is refused."""
    import io
    import urllib.request

    from data.sprites import RAW_DIR, UPSTREAM_URL, download_layers

    served = {}

    def fake_urlopen(url, timeout=None):
        rel = url.split("3ce4048c5227802bd8f1888e293fd3afdba91c0c/")[1]
        served[rel] = True
        return io.BytesIO((RAW_DIR / rel).read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    dest = download_layers(tmp_path / "raw")
    assert len(served) == 25 and (dest / "hair" / "3.png").read_bytes() == (RAW_DIR / "hair" / "3.png").read_bytes()
    assert render_character(777, raw_dir=dest).shape == (3, 3, 8, 64, 64, 3)
    (dest / "hair" / "3.png").unlink()
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: io.BytesIO(b"tampered"))
    with pytest.raises(DataError, match="does not match its SHA256SUMS"):
        download_layers(dest)
    assert UPSTREAM_URL.startswith("https://raw.githubusercontent.com/YingzhenLi/Sprites/")
