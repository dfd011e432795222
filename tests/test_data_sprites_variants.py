"""Tests of the VDSM and Helminger Sprites variants (data/raw/lpc_sprites/README.md "Variants")."""

from __future__ import annotations

import io
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

import data
from data import sprites
from data.errors import DataError
from data.sprites import HELMINGER, VDSM, SpritesHelmingerDataset, SpritesVDSMDataset, render_character

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw" / "lpc_sprites"
EXTRA = "vdsm_variant"

# The VDSM layer table restated from RECIPE.md §7 (label order body, shirt, pants, hair), independent of data/sprites.py.
VDSM_TABLE = {
    "body": ["body/0.png", "body/4.png", "body/5.png", "body/2.png", "body/3.png",
             f"{EXTRA}/body/male/tanned.png", "body/1.png"],
    "shirt": [f"{EXTRA}/torso/shirts/longsleeve/male/brown_longsleeve.png",
              "topwear/1.png", "topwear/0.png", "topwear/2.png"],
    "pants": [f"{EXTRA}/legs/pants/male/magenta_pants_male.png", "bottomwear/2.png", "bottomwear/4.png",
              "bottomwear/0.png", f"{EXTRA}/legs/skirt/male/robe_skirt_male.png"],
    "hair": [f"{EXTRA}/hair/male/plain/{c}.png" for c in ("green", "blue", "pink", "raven", "white", "dark-blonde")],
}  # fmt: skip
# Rows of (left, front, right) and columns of t = 0..7: RECIPE §7 with slash on rows 13-15 (VDSM's code: 14-16).
VDSM_ROWS = {"walk": (9, 10, 11), "spellcast": (1, 2, 3), "slash": (13, 14, 15)}
VDSM_COLS = {"walk": range(8), "spellcast": (0, 1, 2, 3, 4, 5, 6, 6), "slash": (0, 1, 2, 3, 4, 5, 5, 5)}
ORDER = ("walk", "spellcast", "slash")
# RECIPE §1: frames per row of the 21-row LPC sheet.
ROW_FRAMES = [7] * 4 + [8] * 4 + [9] * 4 + [6] * 4 + [13] * 4 + [6]


def rgba(rel: str) -> np.ndarray:
    """Load one vendored layer sheet as RGBA (1344, 832, 4)."""
    return np.asarray(Image.open(RAW / rel).convert("RGBA"))


def composite(files: list[str]) -> np.ndarray:
    """Alpha-composite full sheets over an opaque black canvas, bottom to top; RGB."""
    canvas = Image.new("RGBA", (832, 1344), (0, 0, 0, 255))
    for rel in files:
        canvas = Image.alpha_composite(canvas, Image.fromarray(rgba(rel), "RGBA"))
    return np.asarray(canvas)[..., :3]


def vdsm_files(attrs: tuple[int, int, int, int]) -> list[str]:
    """Layer files of a VDSM character in compositing order body -> pants -> shirt -> hair (no shoes)."""
    body, shirt, pants, hair = attrs
    return [VDSM_TABLE["body"][body], VDSM_TABLE["pants"][pants], VDSM_TABLE["shirt"][shirt], VDSM_TABLE["hair"][hair]]


def cell(sheet: np.ndarray, row: int, col: int) -> np.ndarray:
    """One 64 x 64 cell of a sheet."""
    return sheet[64 * row : 64 * row + 64, 64 * col : 64 * col + 64]


def vdsm_cells(sheet: np.ndarray, label: int, rows: dict = VDSM_ROWS) -> np.ndarray:
    """The 8 cells of VDSM label 3 * action + direction (directions left, front, right)."""
    action = ORDER[label // 3]
    return np.stack([cell(sheet, rows[action][label % 3], c) for c in VDSM_COLS[action]])


def alpha_cells(rel: str) -> np.ndarray:
    """Alpha > 0 mask of a layer cut like a VDSM character: (3, 3, 8, 64, 64)."""
    alpha = rgba(rel)[..., 3:] > 0
    return np.stack([vdsm_cells(alpha, label)[..., 0] for label in range(9)]).reshape(3, 3, 8, 64, 64)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("seqzoo-cache")


@pytest.fixture(scope="module")
def vdsm_train(cache_dir: Path) -> SpritesVDSMDataset:
    return SpritesVDSMDataset("train", train_characters=3, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def helminger_train(cache_dir: Path) -> SpritesHelmingerDataset:
    return SpritesHelmingerDataset("train", train_characters=2, cache_dir=cache_dir)


# ---------------------------------------------------------------- VDSM
def test_vdsm_layer_table_counts_and_files() -> None:
    assert VDSM.num_classes == (7, 4, 5, 6) and VDSM.n_characters == 840 and VDSM.n_labels == 9
    assert [list(files) for files in VDSM.layer_files] == [VDSM_TABLE[a] for a in ("body", "shirt", "pants", "hair")]
    assert VDSM.overlays == () and VDSM.compositing == ("body", "pants", "shirt", "hair")
    sums = (RAW / "SHA256SUMS").read_text()
    assert all((RAW / rel).is_file() and f"  {rel}\n" in sums for rel in VDSM.files)
    assert sum(rel.startswith(f"{EXTRA}/") for rel in set(VDSM.files)) == 10


def test_vdsm_split_holds_out_ten_percent_deterministically() -> None:
    train, test = sprites.split_characters("train", VDSM), sprites.split_characters("test", VDSM)
    assert len(train) == 756 and len(test) == 84 == round(0.1 * 840)
    assert not set(train) & set(test) and sorted([*train, *test]) == list(range(840))
    np.testing.assert_array_equal(np.concatenate([train, test]), np.random.RandomState(2021).permutation(840))
    np.testing.assert_array_equal(test, sprites.split_characters("test", VDSM))


def test_vdsm_items_and_labels(vdsm_train: SpritesVDSMDataset) -> None:
    assert len(vdsm_train) == 27 and vdsm_train.seq_len == 8 and vdsm_train.frame_shape == (3, 64, 64)
    info = vdsm_train.labels_info
    assert info["attributes"]["names"] == ("body", "shirt", "pants", "hair")
    assert info["attributes"]["num_classes"] == (7, 4, 5, 6) and info["character"]["num_classes"] == 840
    assert info["action"]["names"][:3] == ("walk-left", "walk-front", "walk-right") and info["action"]["num_classes"] == 9
    first = sprites.split_characters("train", VDSM)[:3]
    for i in range(len(vdsm_train)):
        item = vdsm_train[i]
        assert set(item) == {"x", "attributes", "action", "character"} and item["x"].shape == (8, 3, 64, 64)
        assert item["character"] == first[i // 9] and item["action"] == i % 9
        body, shirt, pants, hair = item["attributes"].tolist()
        assert item["character"] == ((body * 4 + shirt) * 5 + pants) * 6 + hair


def test_vdsm_frames_are_the_labelled_cells_with_slash_rows_13_to_15(vdsm_train: SpritesVDSMDataset) -> None:
    for start in (0, 18):
        attrs = tuple(vdsm_train[start]["attributes"].tolist())
        sheet = composite(vdsm_files(attrs))
        for label in range(9):
            np.testing.assert_array_equal(vdsm_train.frames[start + label], vdsm_cells(sheet, label))
        buggy = vdsm_cells(sheet, 8, rows={**VDSM_ROWS, "slash": (14, 15, 16)})  # VDSM's slash-right = shoot-back
        assert not np.array_equal(vdsm_train.frames[start + 8], buggy)


@pytest.mark.parametrize(
    "a, b, layer",
    [((6, 2, 4, 0), (6, 2, 4, 3), "hair"), ((1, 0, 1, 5), (1, 3, 1, 5), "shirt"), ((5, 1, 0, 2), (5, 1, 4, 2), "pants")],
)
def test_vdsm_one_attribute_changes_only_its_layer(a: tuple, b: tuple, layer: str) -> None:
    k = ("body", "shirt", "pants", "hair").index(layer)
    drawn = alpha_cells(VDSM_TABLE[layer][a[k]]) | alpha_cells(VDSM_TABLE[layer][b[k]])
    changed = (render_character(a, variant=VDSM) != render_character(b, variant=VDSM)).any(axis=-1)
    assert changed.any() and not (changed & ~drawn).any()


@pytest.mark.parametrize("shirt", range(4))
def test_vdsm_shirt_region_shows_the_labelled_shirt(shirt: int) -> None:
    frames = render_character((3, shirt, 1, 2), variant=VDSM)  # darkelf, <shirt>, red pants, pink hair
    layers = {name: np.stack([vdsm_cells(rgba(VDSM_TABLE[name][v]), lab) for lab in range(9)]).reshape(3, 3, 8, 64, 64, 4)
              for name, v in (("shirt", shirt), ("hair", 2))}  # fmt: skip
    visible = (layers["shirt"][..., 3] == 255) & (layers["hair"][..., 3] == 0)  # opaque shirt, nothing on top
    assert visible.sum() > 1000
    np.testing.assert_array_equal(frames[visible], layers["shirt"][..., :3][visible])
    for other in set(range(4)) - {shirt}:
        other_rgb = np.stack([vdsm_cells(rgba(VDSM_TABLE["shirt"][other]), lab) for lab in range(9)])[..., :3]
        assert (frames[visible] != other_rgb.reshape(3, 3, 8, 64, 64, 3)[visible]).any(axis=-1).mean() > 0.5


# ---------------------------------------------------------------- Helminger
def test_sheet_cells_are_the_drawn_cells_of_the_dsa_layers() -> None:
    cells = sprites.lpc_sheet_cells()
    assert len(cells) == 178 == sum(ROW_FRAMES) and HELMINGER.seq_len == 178
    layout = np.zeros((21, 13), dtype=bool)
    for row, count in enumerate(ROW_FRAMES):
        layout[row, :count] = True
    assert [tuple(rc) for rc in np.argwhere(layout).tolist()] == list(cells)  # sheet (row-major) order
    union = np.zeros((21, 13), dtype=bool)
    for rel in HELMINGER.files:
        drawn = (rgba(rel)[..., 3].reshape(21, 64, 13, 64) > 0).any(axis=(1, 3))
        union |= drawn
        if rel.startswith("body/"):
            np.testing.assert_array_equal(drawn, layout)  # every body is drawn in exactly these cells
    np.testing.assert_array_equal(union, layout)


def test_helminger_items_are_all_poses_of_one_character(helminger_train: SpritesHelmingerDataset) -> None:
    assert len(helminger_train) == 2 and helminger_train.seq_len == 178
    assert isinstance(helminger_train.frames, np.memmap) and helminger_train.frames.shape == (2, 178, 64, 64, 3)
    cells = np.array(sprites.lpc_sheet_cells())
    first = sprites.split_characters("train")[:2]
    for i in range(2):
        item = helminger_train[i]
        assert set(item) == {"x", "attributes", "character", "pose"}
        assert item["x"].shape == (178, 3, 64, 64) and item["x"].dtype == torch.float32
        assert item["pose"].shape == (178, 2) and item["pose"].dtype == torch.long
        np.testing.assert_array_equal(item["pose"].numpy(), cells)
        assert item["character"] == first[i] and tuple(item["attributes"].tolist()) == sprites.attributes_of(int(first[i]))
        assert (item["x"].flatten(1) > 0).any(dim=1).all()  # every pose is drawn (not all black)
        files = [f"{a}/{v}.png" for a, v in zip(sprites.ATTRIBUTE_NAMES, item["attributes"].tolist())] + ["shoes/1.png"]
        sheet = composite(files)
        np.testing.assert_array_equal(helminger_train.frames[i], np.stack([cell(sheet, r, c) for r, c in cells]))


def test_helminger_uses_the_dsa_characters_and_split() -> None:
    assert HELMINGER.n_characters == 1296 and HELMINGER.num_classes == (6, 6, 6, 6)
    for split in ("train", "test"):
        np.testing.assert_array_equal(sprites.split_characters(split, HELMINGER), sprites.split_characters(split))
    train, test = (set(sprites.split_characters(s, HELMINGER).tolist()) for s in ("train", "test"))
    assert len(train) == 1000 and len(test) == 296 and not train & test
    code = sprites.parse_character("5131", HELMINGER)
    walk_front = render_character(code, variant=HELMINGER)[list(sprites.lpc_sheet_cells()).index((10, 1))]
    np.testing.assert_array_equal(walk_front, render_character(code)[0, 0, 1])  # DSA walk-front t=1 = cell (10, 1)


def test_helminger_test_split_is_disjoint(cache_dir: Path, helminger_train: SpritesHelmingerDataset) -> None:
    test = SpritesHelmingerDataset("test", test_characters=1, cache_dir=cache_dir)
    assert len(test) == 1 and not set(test.labels["character"].tolist()) & set(sprites.split_characters("train").tolist())


# ---------------------------------------------------------------- shared machinery
def test_generation_is_deterministic_and_scratch_matches_memory(tmp_path: Path) -> None:
    in_memory = sprites.generate_split("test", 1, variant=HELMINGER)
    on_disk = sprites.generate_split("test", 1, variant=HELMINGER, scratch_dir=tmp_path)
    assert isinstance(on_disk["frames"], np.memmap) and list(tmp_path.iterdir()) == []  # unlinked scratch file
    assert in_memory.keys() == on_disk.keys()
    for key in in_memory:
        np.testing.assert_array_equal(in_memory[key], on_disk[key])
    again = sprites.generate_split("test", 1, variant=VDSM)
    np.testing.assert_array_equal(again["frames"], sprites.generate_split("test", 1, variant=VDSM)["frames"])


def test_cached_variants_are_not_regenerated(
    vdsm_train: SpritesVDSMDataset,
    helminger_train: SpritesHelmingerDataset,
    cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("regenerated")

    monkeypatch.setattr(sprites, "generate_split", fail)
    np.testing.assert_array_equal(SpritesVDSMDataset("train", 3, cache_dir=cache_dir).frames, vdsm_train.frames)
    np.testing.assert_array_equal(SpritesHelmingerDataset("train", 2, cache_dir=cache_dir).frames, helminger_train.frames)
    names = {p.name.rsplit("-", 1)[0] for p in cache_dir.iterdir()}
    assert {"sprites_helminger-train", "sprites_vdsm-train"} <= names and not any(n.startswith(".") for n in names)


def test_cache_keys_differ_between_variants() -> None:
    keys = {sprites.split_settings("test", 1, variant=v)["dataset"] for v in sprites.VARIANTS.values()}
    assert keys == {"sprites", "sprites_vdsm", "sprites_helminger"}
    assert "spec" not in sprites.split_settings("test", 1) and "spec" in sprites.split_settings("test", 1, variant=VDSM)
    assert VDSM.spec_digest() != HELMINGER.spec_digest()


@pytest.mark.parametrize(
    "cls, kwargs, message",
    [
        (SpritesVDSMDataset, {"train_characters": 757}, r"train_characters must be an int in \[1, 756\]"),
        (SpritesVDSMDataset, {"test_characters": 85}, r"test_characters must be an int in \[1, 84\]"),
        (SpritesHelmingerDataset, {"train_characters": 0}, r"train_characters must be an int in \[1, 1000\]"),
    ],
)
def test_bad_sizes_are_one_line_errors(cls: type, kwargs: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=message) as info:
        cls("train", cache_dir=tmp_path, **kwargs)
    assert "\n" not in str(info.value)


def test_missing_vdsm_sheet_is_a_clear_error(tmp_path: Path) -> None:
    copy = tmp_path / "raw"
    shutil.copytree(RAW, copy, ignore=shutil.ignore_patterns("reference"))
    (copy / EXTRA / "hair" / "male" / "plain" / "pink.png").unlink()
    with pytest.raises(DataError, match=r"missing vendored file .*plain/pink\.png"):
        SpritesVDSMDataset("test", test_characters=1, cache_dir=tmp_path / "cache", raw_dir=copy)
    with pytest.raises(DataError, match="not a character"):
        render_character("12345", variant=VDSM)
    with pytest.raises(DataError, match="attribute values must be ints below"):
        render_character((7, 0, 0, 0), variant=VDSM)


def test_vdsm_download_path_uses_universal_lpc_for_extra_sheets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[str] = []

    def fake_urlopen(url: str, timeout: float | None = None) -> io.BytesIO:
        served.append(url)
        if "/YingzhenLi/Sprites/" in url:
            rel = url.split("3ce4048c5227802bd8f1888e293fd3afdba91c0c/")[1]
        else:
            rel = f"{EXTRA}/" + url.split("jrconway3/Universal-LPC-spritesheet/2668274d5a96c91584172f2d299b90f0a8c0caac/")[1]
        return io.BytesIO((RAW / rel).read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    dest = sprites.download_layers(tmp_path / "raw", variant=VDSM)
    assert len(served) == 22 and sum("Universal-LPC" in url for url in served) == 10
    assert any(url.endswith("Universal-LPC-spritesheet/2668274d5a96c91584172f2d299b90f0a8c0caac/body/male/tanned.png")
               for url in served)  # fmt: skip
    assert render_character(0, raw_dir=dest, variant=VDSM).shape == (3, 3, 8, 64, 64, 3)


def test_registry_and_configs(cache_dir: Path) -> None:
    assert data.DATASETS["sprites_vdsm"] is SpritesVDSMDataset
    assert data.DATASETS["sprites_helminger"] is SpritesHelmingerDataset
    for name, cls in (("sprites_vdsm", SpritesVDSMDataset), ("sprites_helminger", SpritesHelmingerDataset)):
        cfg = OmegaConf.load(ROOT / "conf" / "data" / f"{name}.yaml")
        assert cfg.name == name
        cfg.cache_dir, cfg.test_characters = str(cache_dir), 1
        built = instantiate(cfg, split="test")
        assert isinstance(built, cls) and built.n_characters == 1
