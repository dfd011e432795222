"""Raw files vendored under ``data/raw/<source>/`` with a ``SHA256SUMS`` list, and their verified download: one place
for the checksum and download code of every data set built from files (Sprites' layer sheets, MNIST, FSDD).

The expected hashes always come from this repository's ``SHA256SUMS``; a file that does not match is never used.
"""
from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path
from typing import Iterable, Sequence

from .errors import DataError


def sha256(payload: bytes) -> str:
    """The hex sha256 of some bytes."""
    return hashlib.sha256(payload).hexdigest()


def read_checksums(raw_dir: Path, source: str) -> dict[str, str]:
    """{relative path: sha256} from ``raw_dir/SHA256SUMS``; ``source`` names the vendored folder for the error."""
    sums = Path(raw_dir) / "SHA256SUMS"
    if not sums.is_file():
        raise DataError(f"missing {sums}; restore {source} from git")
    entries = (line.split(maxsplit=1) for line in sums.read_text().splitlines() if line.strip())
    return {path.strip().lstrip("*"): digest for digest, path in entries}


def listed_digest(sums: dict[str, str], names: Iterable[str]) -> str:
    """A short digest of the listed checksums of ``names`` (a file not listed counts as 'missing'), for cache keys."""
    lines = "".join(f"{sums.get(name, 'missing')}  {name}\n" for name in names)
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


def verified_bytes(path: Path, expected: str | None, what: str, remedy: str) -> bytes:
    """The bytes of ``path`` if its sha256 is ``expected``; else a one-line DataError naming the file and the ``remedy``."""
    if not path.is_file():
        raise DataError(f"missing {what} {path}; {remedy}")
    payload = path.read_bytes()
    if expected is None or sha256(payload) != expected:
        raise DataError(f"{what} {path} fails its SHA256SUMS check; {remedy}")
    return payload


def holds(path: Path, expected: str) -> bool:
    """Whether ``path`` exists with the expected sha256 (a download can skip it)."""
    return path.is_file() and sha256(path.read_bytes()) == expected


def fetch(url: str) -> bytes:
    """The body of one URL (looked up on ``urllib.request`` at call time, so tests can fake the network)."""
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def download_verified(urls: Sequence[str], expected: str, name: str) -> bytes:
    """The first of ``urls`` whose body has the expected sha256; a one-line DataError listing every failure if none."""
    problems = []
    for url in urls:
        try:
            payload = fetch(url)
        except OSError as err:
            problems.append(f"{url}: {err}")
            continue
        if sha256(payload) == expected:
            return payload
        problems.append(f"{url}: sha256 mismatch (does not match its SHA256SUMS entry; not using it)")
    raise DataError(f"could not download a verified {name}: {'; '.join(problems)}")


def write_atomically(target: Path, payload: bytes) -> None:
    """Write ``payload`` to ``target`` through a temporary file, so a killed download leaves no partial file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(payload)
    os.replace(partial, target)
