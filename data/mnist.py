"""The MNIST digits (LeCun, Cortes, Burges) read from the vendored original IDX files.

``data/raw/mnist/`` holds the four gzip-compressed IDX files byte-identical to the
published originals, checked against ``SHA256SUMS`` before every use. ``load_digits``
returns uint8 images (N, 28, 28) and int64 labels (N,) of the train (60000) or
test (10000) set; ``download`` fetches the same files from the public mirrors
torchvision uses, for installs without the vendored copy.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from . import raw_files
from .errors import DataError

RAW_DIR = Path(__file__).resolve().parent / "raw" / "mnist"
FILES = {
    ("train", "images"): "train-images-idx3-ubyte.gz",
    ("train", "labels"): "train-labels-idx1-ubyte.gz",
    ("test", "images"): "t10k-images-idx3-ubyte.gz",
    ("test", "labels"): "t10k-labels-idx1-ubyte.gz",
}
SPLIT_SIZES = {"train": 60000, "test": 10000}
DIGIT_SIZE = 28
NUM_CLASSES = 10
# The public mirrors torchvision.datasets.MNIST downloads from (first one that answers wins).
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")

# IDX format (LeCun's MNIST page): magic = 0, 0, type code, number of dimensions; then
# one big-endian int32 per dimension; then the data, big-endian.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_decoded: dict[str, np.ndarray] = {}


def check_split(split: str) -> None:
    """Raise DataError unless split is 'train' or 'test'."""
    if split not in SPLIT_SIZES:
        raise DataError(f"unknown split {split!r}; valid: {', '.join(SPLIT_SIZES)}")


def parse_idx(payload: bytes) -> np.ndarray:
    """Decode one uncompressed IDX file into a native-endian numpy array."""
    if len(payload) < 4 or payload[0] != 0 or payload[1] != 0 or payload[2] not in _IDX_TYPES:
        raise DataError("not an IDX file: bad magic number")
    ndim = payload[3]
    header = 4 + 4 * ndim
    if len(payload) < header:
        raise DataError("truncated IDX header")
    shape = struct.unpack(f">{ndim}i", payload[4:header])
    dtype = np.dtype(_IDX_TYPES[payload[2]])
    if len(payload) != header + dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
        raise DataError(f"IDX payload size does not match its header shape {shape}")
    return np.frombuffer(payload, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_checksums() -> dict[str, str]:
    """Return {file name: sha256} from the repository's data/raw/mnist/SHA256SUMS."""
    return raw_files.read_checksums(RAW_DIR, "data/raw/mnist")


def files_digest() -> str:
    """Return a short digest of the four files' listed checksums, for cache keys."""
    return raw_files.listed_digest(read_checksums(), FILES.values())


def verified_bytes(raw_dir: Path, name: str) -> tuple[bytes, str]:
    """Read one raw file and check it against SHA256SUMS; return (bytes, sha256)."""
    payload = raw_files.verified_bytes(raw_dir / name, read_checksums().get(name), "MNIST file",
                                       "restore data/raw/mnist from git or use data.mnist.download")
    return payload, raw_files.sha256(payload)


def read_file(name: str, raw_dir: str | os.PathLike[str] | None = None) -> np.ndarray:
    """Return the decoded (read-only) array of one verified raw file, decoding each distinct file once."""
    payload, digest = verified_bytes(Path(raw_dir) if raw_dir is not None else RAW_DIR, name)
    if digest not in _decoded:
        array = parse_idx(gzip.decompress(payload))
        array.flags.writeable = False
        _decoded[digest] = array
    return _decoded[digest]


def load_digits(split: str, raw_dir: str | os.PathLike[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 (N, 28, 28), labels int64 (N,)) of the MNIST train or test set."""
    check_split(split)
    images = read_file(FILES[split, "images"], raw_dir)
    labels = read_file(FILES[split, "labels"], raw_dir)
    expected = (SPLIT_SIZES[split], DIGIT_SIZE, DIGIT_SIZE)
    if images.shape != expected or images.dtype != np.uint8 or labels.shape != expected[:1]:
        raise DataError(f"MNIST {split} files have shapes {images.shape}/{labels.shape}, expected {expected}")
    return images, labels.astype(np.int64)


def download(dest: str | os.PathLike[str], mirrors: tuple[str, ...] = MIRRORS) -> Path:
    """Fetch the four MNIST files into ``dest``, each verified against our SHA256SUMS; return ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    sums = read_checksums()
    for name in FILES.values():
        if not raw_files.holds(dest / name, sums[name]):
            raw_files.write_atomically(dest / name, raw_files.download_verified([mirror + name for mirror in mirrors], sums[name], name))
    return dest

