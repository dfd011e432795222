"""Tests of data.cache: keys, layout, reuse, corruption handling, atomic writes."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from data import cache

SETTINGS = {"n": 3, "seed": 7, "tags": ["a", "b"]}


class Builder:
    """Build function that counts its calls."""

    def __init__(self, offset: int = 0) -> None:
        self.calls = 0
        self.offset = offset

    def __call__(self) -> dict[str, np.ndarray]:
        self.calls += 1
        frames = (np.arange(2 * 3 * 4, dtype=np.uint8) + self.offset).reshape(2, 3, 4)
        return {"frames": frames, "labels": np.array([5, -1], dtype=np.int64)}


def entry_of(root: Path, name: str = "toy") -> Path:
    """Return the single entry directory of name in root."""
    (entry,) = [p for p in root.iterdir() if p.name.startswith(f"{name}-")]
    return entry


def test_first_call_builds_second_reuses(tmp_path: Path) -> None:
    build = Builder()
    first = cache.load_or_build("toy", SETTINGS, build, root=tmp_path)
    second = cache.load_or_build("toy", SETTINGS, build, root=tmp_path)
    assert build.calls == 1
    for arrays in (first, second):
        np.testing.assert_array_equal(arrays["frames"], Builder()()["frames"])
        np.testing.assert_array_equal(arrays["labels"], [5, -1])
    assert isinstance(second["frames"], np.memmap) and not second["frames"].flags.writeable


def test_layout_and_manifest(tmp_path: Path) -> None:
    cache.load_or_build("toy", SETTINGS, Builder(), root=tmp_path)
    canonical = json.dumps(SETTINGS, sort_keys=True, separators=(",", ":"))
    key = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    entry = tmp_path / f"toy-{key}"
    assert sorted(p.name for p in tmp_path.iterdir()) == [entry.name]
    manifest = json.loads((entry / "manifest.json").read_text())
    assert manifest["settings"] == SETTINGS
    info = manifest["arrays"]["frames"]
    assert info["file"] == "frames.npy" and info["shape"] == [2, 3, 4] and np.dtype(info["dtype"]) == np.uint8
    assert info["sha256"] == hashlib.sha256((entry / "frames.npy").read_bytes()).hexdigest()
    assert sorted(p.name for p in entry.iterdir()) == ["frames.npy", "labels.npy", "manifest.json"]


def test_key_is_canonical_and_settings_sensitive(tmp_path: Path) -> None:
    reordered = {"tags": ["a", "b"], "seed": 7, "n": 3}
    assert cache.settings_key(reordered) == cache.settings_key(SETTINGS)
    assert cache.settings_key({**SETTINGS, "n": 4}) != cache.settings_key(SETTINGS)
    build = Builder()
    cache.load_or_build("toy", SETTINGS, build, root=tmp_path)
    cache.load_or_build("toy", {**SETTINGS, "n": 4}, build, root=tmp_path)
    cache.load_or_build("other", SETTINGS, build, root=tmp_path)
    assert build.calls == 3 and len(list(tmp_path.iterdir())) == 3


def flip_byte(entry: Path) -> None:
    """Flip the last byte of the frames file (array data, header intact)."""
    path = entry / "frames.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(entry: Path) -> None:
    """Cut the frames file short, as a partial write would."""
    path = entry / "frames.npy"
    path.write_bytes(path.read_bytes()[:-5])


def wrong_shape(entry: Path) -> None:
    """Make the manifest disagree with the file's shape."""
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["arrays"]["frames"]["shape"] = [3, 2, 4]
    (entry / "manifest.json").write_text(json.dumps(manifest))


DAMAGE = {
    "flipped byte": flip_byte,
    "deleted array": lambda entry: (entry / "labels.npy").unlink(),
    "missing manifest": lambda entry: (entry / "manifest.json").unlink(),
    "garbled manifest": lambda entry: (entry / "manifest.json").write_text("{not json"),
    "truncated array": truncate,
    "manifest shape mismatch": wrong_shape,
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_entry_is_rebuilt(tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    cache.load_or_build("toy", SETTINGS, Builder(), root=tmp_path)
    DAMAGE[damage](entry_of(tmp_path))
    build = Builder()
    with caplog.at_level(logging.WARNING, logger="data.cache"):
        arrays = cache.load_or_build("toy", SETTINGS, build, root=tmp_path)
    assert build.calls == 1
    assert any("unusable" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(arrays["frames"], Builder()()["frames"])
    cache.load_entry(entry_of(tmp_path))  # the rebuilt entry verifies
    assert len(list(tmp_path.iterdir())) == 1  # no temp or trash directories left


def test_root_from_env_and_argument(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "env"))
    assert cache.cache_root() == tmp_path / "env"
    assert cache.cache_root(tmp_path / "arg") == tmp_path / "arg"
    cache.load_or_build("toy", SETTINGS, Builder(), root=None)
    assert entry_of(tmp_path / "env").is_dir()
    monkeypatch.delenv(cache.ENV_VAR)
    assert cache.cache_root() == Path("~/.cache/seqzoo").expanduser()


def test_concurrent_writer_wins_race(tmp_path: Path) -> None:
    rival = Builder(offset=1)

    def slow_build() -> dict[str, np.ndarray]:
        """Let a rival writer finish the same entry while this one is still building."""
        cache.load_or_build("toy", SETTINGS, rival, root=tmp_path)
        return Builder()()

    arrays = cache.load_or_build("toy", SETTINGS, slow_build, root=tmp_path)
    assert rival.calls == 1
    np.testing.assert_array_equal(arrays["frames"], rival()["frames"])  # the winner's entry is used
    assert len(list(tmp_path.iterdir())) == 1


def test_failed_build_leaves_nothing(tmp_path: Path) -> None:
    def broken() -> dict[str, np.ndarray]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cache.load_or_build("toy", SETTINGS, broken, root=tmp_path)
    with pytest.raises(TypeError, match="dict of arrays"):
        cache.load_or_build("toy", SETTINGS, lambda: [np.zeros(2)], root=tmp_path)
    with pytest.raises(TypeError, match="numpy array"):
        cache.load_or_build("toy", SETTINGS, lambda: {"a": [1, 2]}, root=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_bad_names_and_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="entry name"):
        cache.load_or_build("../escape", SETTINGS, Builder(), root=tmp_path)
    with pytest.raises(ValueError, match="array name"):
        cache.load_or_build("toy", SETTINGS, lambda: {"a/b": np.zeros(2)}, root=tmp_path)
    with pytest.raises(TypeError):
        cache.load_or_build("toy", {"f": object()}, Builder(), root=tmp_path)


def test_scalar_and_empty_arrays(tmp_path: Path) -> None:
    arrays = {"scalar": np.array(3.5), "empty": np.zeros((0, 4), dtype=np.float32)}
    cache.load_or_build("odd", {}, lambda: arrays, root=tmp_path)
    loaded = cache.load_or_build("odd", {}, lambda: pytest.fail("rebuilt"), root=tmp_path)
    assert loaded["scalar"] == 3.5 and loaded["empty"].shape == (0, 4)
