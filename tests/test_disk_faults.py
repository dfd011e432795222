"""Full disks, file-size limits and unwritable folders: a failed checkpoint or cache write leaves the previous files as
they were and stops with one line naming the path and the cause; checkpoints follow the user's umask."""
from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data.cache import CacheWriteFailed, load_or_build
from inference.checkpoint import load_checkpoint, save_checkpoint
from inference.errors import CheckpointError

sys.path.insert(0, str(Path(__file__).parent))
from test_config import TINY  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STATE = {"step": 1, "model": {}, "guide": {}, "config": {}}


def train_limited(max_file_bytes: int, *overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python train.py`` with every file it writes limited to ``max_file_bytes`` (RLIMIT_FSIZE, as a full quota)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *overrides], cwd=cwd, capture_output=True, text=True,
                          timeout=300, preexec_fn=limit)


def test_checkpoint_over_the_file_size_limit_stops_in_one_line_keeping_the_old_one(tmp_path):
    run, config = tmp_path / "run", [*TINY, f"cache_dir={tmp_path / 'cache'}", "trainer.checkpoint_every=3"]
    first = train_limited(resource.RLIM_INFINITY, *config, "trainer.max_steps=3", f"hydra.run.dir={run}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    checkpoint = run / "checkpoints" / "checkpoint.pt"
    before = checkpoint.read_bytes()
    resumed = train_limited(len(before) // 2, f"resume={run}", "trainer.max_steps=7", cwd=tmp_path)
    assert resumed.returncode == 2, resumed.stderr
    assert "Traceback" not in resumed.stderr
    message = resumed.stderr.strip().splitlines()[-1]
    assert message.startswith("error: could not write checkpoint") and str(checkpoint) in message and "File too large" in message
    assert checkpoint.read_bytes() == before and load_checkpoint(checkpoint)["step"] == 3
    assert [p.name for p in checkpoint.parent.iterdir()] == ["checkpoint.pt"]  # no temp file left behind


def test_cache_entry_over_the_file_size_limit_stops_in_one_line_and_leaves_no_entry(tmp_path):
    cache = tmp_path / "cache"
    result = train_limited(100_000, *TINY, f"cache_dir={cache}", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: could not write cache entry") and str(cache / "sprites-train-") in message
    assert "File too large" in message
    assert list(cache.iterdir()) == []  # neither an entry nor a temp directory


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EACCES])
def test_failed_checkpoint_write_keeps_the_old_checkpoint(tmp_path, monkeypatch, code):
    path = tmp_path / "checkpoints" / "checkpoint.pt"
    save_checkpoint(path, STATE)
    real_fdopen = os.fdopen

    class FailingFile:
        def __init__(self, handle, mode):
            self.file = real_fdopen(handle, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data):
            self.file.write(bytes(data)[:100])
            raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fdopen", FailingFile)
    with pytest.raises(CheckpointError, match=f"could not write checkpoint {path}: {os.strerror(code)}"):
        save_checkpoint(path, {**STATE, "step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["checkpoint.pt"]


def test_unwritable_checkpoint_folder_is_one_line(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(tmp_path))

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    with pytest.raises(CheckpointError, match="could not write checkpoint .*Permission denied"):
        save_checkpoint(tmp_path / "checkpoint.pt", STATE)


def test_unwritable_cache_folder_is_one_line(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path))

    monkeypatch.setattr("tempfile.mkdtemp", refuse)
    with pytest.raises(CacheWriteFailed, match="could not write cache entry .*Read-only file system"):
        load_or_build("demo", {"n": 1}, lambda: {"a": np.zeros(3)}, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_checkpoint_mode_follows_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        save_checkpoint(tmp_path / "checkpoint.pt", STATE)
    finally:
        os.umask(previous)
    assert (tmp_path / "checkpoint.pt").stat().st_mode & 0o777 == 0o666 & ~umask
