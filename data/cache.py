"""Verified on-disk cache for generated numpy arrays.

Layout: ``<root>/<name>-<key>/`` holds one ``<array>.npy`` per array and a
``manifest.json`` listing each array's file, shape, dtype and sha256, where
``key`` = first 16 hex digits of the sha256 of the canonical JSON of the
generator settings. Entries are built in a temporary directory inside the
root and renamed into place, so a reader never sees a half-written entry.
Every load re-hashes the files; a missing, partial or corrupt entry is logged,
deleted and rebuilt, never used.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from data.errors import DataError

__all__ = [
    "DEFAULT_ROOT",
    "ENV_VAR",
    "MANIFEST",
    "CacheCorrupt",
    "CacheWriteFailed",
    "cache_root",
    "settings_key",
    "entry_dir",
    "load_or_build",
    "load_entry",
    "write_entry",
]

log = logging.getLogger(__name__)

DEFAULT_ROOT = "~/.cache/seqzoo"
ENV_VAR = "SEQZOO_CACHE"
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_CHUNK = 1 << 22
_ATTEMPTS = 3
WRITE_FAILURES = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}

Arrays = dict[str, np.ndarray]


class CacheCorrupt(Exception):
    """A cache entry is missing, partial or does not match its manifest."""


class CacheWriteFailed(DataError):
    """A cache entry could not be written (no space, file-size limit, read-only folder, quota); nothing was left."""

    def __init__(self, entry: Path, err: OSError) -> None:
        super().__init__(f"could not write cache entry {entry}: {err.strerror or err}; the cache is unchanged "
                         f"(free space there, or choose another cache with cache_dir=<dir> or ${ENV_VAR})")


def cache_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Return the cache root: argument, else $SEQZOO_CACHE, else ~/.cache/seqzoo."""
    chosen = root if root is not None else os.environ.get(ENV_VAR) or DEFAULT_ROOT
    return Path(chosen).expanduser()


def canonical_json(settings: Mapping[str, Any]) -> str:
    """Serialise settings as canonical JSON (sorted keys, no spaces, ASCII)."""
    return json.dumps(settings, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def settings_key(settings: Mapping[str, Any]) -> str:
    """Return the first 16 hex digits of the sha256 of the settings' canonical JSON."""
    return hashlib.sha256(canonical_json(settings).encode("ascii")).hexdigest()[:16]


def entry_dir(name: str, settings: Mapping[str, Any], root: str | os.PathLike[str] | None = None) -> Path:
    """Return the directory of the entry for ``name`` and ``settings``."""
    _check_name(name, "entry name")
    return cache_root(root) / f"{name}-{settings_key(settings)}"


def file_sha256(path: Path) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_name(name: str, what: str) -> None:
    """Reject names that are not plain file-name tokens."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"invalid {what} {name!r}: use letters, digits, '_', '.', '-'")


def _check_arrays(arrays: object) -> Arrays:
    """Check that a build function returned a non-empty dict of numeric arrays."""
    if not isinstance(arrays, dict) or not arrays:
        raise TypeError(f"build function must return a non-empty dict of arrays, got {type(arrays).__name__}")
    for key, value in arrays.items():
        _check_name(key, "array name")
        if not isinstance(value, np.ndarray) or value.dtype.hasobject:
            raise TypeError(f"array {key!r} must be a numpy array without objects, got {type(value).__name__}")
    return arrays


def write_entry(target: Path, name: str, settings: Mapping[str, Any], arrays: Arrays) -> None:
    """Write arrays and manifest into a new directory ``target`` (which must not exist yet)."""
    listing = {}
    for key, value in arrays.items():
        path = target / f"{key}.npy"
        np.save(path, value, allow_pickle=False)
        listing[key] = {
            "file": path.name,
            "shape": list(value.shape),
            "dtype": value.dtype.str,
            "sha256": file_sha256(path),
        }
    manifest = {"format": FORMAT_VERSION, "name": name, "settings": settings, "arrays": listing}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _read_manifest(entry: Path) -> dict[str, dict[str, Any]]:
    """Return the manifest's array listing, or raise CacheCorrupt."""
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
        listing = manifest["arrays"]
        if manifest.get("format") != FORMAT_VERSION or not isinstance(listing, dict) or not listing:
            raise ValueError("unknown format or empty array list")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CacheCorrupt(f"bad or missing {MANIFEST}: {err}") from err
    return listing


def _load_array(entry: Path, key: str, info: Mapping[str, Any]) -> np.ndarray:
    """Verify one listed array file (sha256, shape, dtype) and memory-map it."""
    try:
        path = entry / info["file"]
        if Path(info["file"]).name != info["file"]:
            raise CacheCorrupt(f"array {key!r}: file name {info['file']!r} leaves the entry")
        if file_sha256(path) != info["sha256"]:
            raise CacheCorrupt(f"array {key!r}: sha256 mismatch in {path.name}")
        array = np.load(path, mmap_mode="r" if info["shape"] and 0 not in info["shape"] else None, allow_pickle=False)
    except CacheCorrupt:
        raise
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CacheCorrupt(f"array {key!r}: {err}") from err
    if list(array.shape) != list(info["shape"]) or array.dtype.str != info["dtype"]:
        raise CacheCorrupt(f"array {key!r}: shape/dtype {array.shape}/{array.dtype.str} differ from manifest")
    return array


def load_entry(entry: Path) -> Arrays:
    """Verify an entry against its manifest and return its arrays memory-mapped read-only."""
    if not entry.is_dir():
        raise CacheCorrupt(f"no entry directory {entry}")
    listing = _read_manifest(entry)
    return {key: _load_array(entry, key, info) for key, info in listing.items()}


def _discard(entry: Path) -> None:
    """Remove an entry: rename it out of the way first so nobody sees it half-deleted."""
    trash = entry.with_name(f".trash-{entry.name}-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(entry, trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def _build_into_place(entry: Path, name: str, settings: Mapping[str, Any], build: Callable[[], Arrays]) -> bool:
    """Build arrays into a temp dir beside ``entry`` and rename it into place; False if another writer won."""
    try:
        arrays = _check_arrays(build())  # builders may use scratch files beside the cache
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{entry.name}-", dir=entry.parent))
    except OSError as err:
        if err.errno not in WRITE_FAILURES:
            raise
        raise CacheWriteFailed(entry, err) from None
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; entries are plain readable data
        write_entry(tmp, name, dict(settings), arrays)
        os.rename(tmp, entry)
        return True
    except OSError as err:
        if entry.is_dir():  # a concurrent writer renamed its entry into place first
            log.info("cache entry %s was written concurrently; using that one", entry)
            return False
        raise CacheWriteFailed(entry, err) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_or_build(
    name: str,
    settings: Mapping[str, Any],
    build: Callable[[], Arrays],
    root: str | os.PathLike[str] | None = None,
) -> Arrays:
    """Return the cached arrays for (name, settings), building and storing them first if needed."""
    entry = entry_dir(name, settings, root)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CacheWriteFailed(entry, err) from None
    for _ in range(_ATTEMPTS):
        if entry.exists():
            try:
                return load_entry(entry)
            except CacheCorrupt as err:
                log.warning("cache entry %s is unusable (%s); deleting and rebuilding", entry, err)
                _discard(entry)
        log.info("building cache entry %s", entry)
        _build_into_place(entry, name, settings, build)
        try:
            return load_entry(entry)
        except CacheCorrupt as err:
            log.warning("fresh cache entry %s is unusable (%s); deleting and rebuilding", entry, err)
            _discard(entry)
    raise RuntimeError(f"cache entry {entry} could not be written and verified in {_ATTEMPTS} attempts")
