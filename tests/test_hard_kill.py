"""Hard kills (SIGKILL, no handler runs): `python train.py resume=<dir>` continues bit-identically to a run that was
never interrupted, also for a staged VDSM run killed in its second stage and for a kill during a checkpoint write."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from inference.checkpoint import load_checkpoint

sys.path.insert(0, str(Path(__file__).parent))
from test_config import TINY, tiny  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STEPS, EVERY = 24, 3  # a tiny step takes about 0.1 s: the kill lands well before the end
SLOW = ["trainer.log_every=1", f"trainer.image_every={STEPS}"]  # metrics.csv shows every step; one picture, at the end
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


def train_args(run: Path, cache: Path, *overrides: str) -> list[str]:
    return [sys.executable, str(ROOT / "train.py"), *overrides, f"cache_dir={cache}", f"hydra.run.dir={run}"]


def finish(args: list[str], cwd: Path) -> None:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def logged_steps(csv_path: Path) -> int:
    """The last step metrics.csv records (0 before the first row)."""
    if not csv_path.is_file():
        return 0
    lines = csv_path.read_text().splitlines()[1:]
    return int(lines[-1].split(",", 1)[0]) if lines and lines[-1].split(",", 1)[0].isdigit() else 0


def kill_at(process: subprocess.Popen, csv_path: Path, step: int, timeout: float = 300) -> None:
    """SIGKILL ``process`` once its metrics.csv shows ``step``; fails if it ends first."""
    deadline = time.monotonic() + timeout
    while logged_steps(csv_path) < step:
        assert process.poll() is None, f"the run ended before step {step}: {process.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "the run did not reach the kill step in time"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL


def assert_identical(found: Any, expected: Any, where: str = "checkpoint") -> None:
    """Every tensor and number equal, bit for bit, through nested containers."""
    if isinstance(expected, torch.Tensor):
        assert isinstance(found, torch.Tensor) and torch.equal(found, expected), f"{where} differs"
    elif isinstance(expected, dict):
        assert found.keys() == expected.keys(), f"{where}: keys differ"
        for key in expected:
            assert_identical(found[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert len(found) == len(expected), f"{where}: lengths differ"
        for i, (a, b) in enumerate(zip(found, expected)):
            assert_identical(a, b, f"{where}[{i}]")
    else:
        assert found == expected, f"{where}: {found!r} != {expected!r}"


def assert_same_training(found: Path, expected: Path) -> None:
    """Step, parameters of model and guide, and the optimiser state: equal to the uninterrupted run's."""
    a, b = load_checkpoint(found), load_checkpoint(expected)
    assert a["step"] == b["step"]
    for key in ("model", "guide", "optim"):
        assert_identical(a[key], b[key], key)


def kill_step(rng: random.Random) -> int:
    """A random step after the first checkpoint and well before the end."""
    return rng.randint(EVERY + 1, STEPS // 2)


@pytest.fixture
def rng() -> random.Random:
    seed = int.from_bytes(os.urandom(4), "little")
    print(f"kill-step seed {seed}")  # shown when the test fails, to replay it
    return random.Random(seed)


CONFIG = [*TINY, f"trainer.max_steps={STEPS}", f"trainer.checkpoint_every={EVERY}", *SLOW]


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> tuple[Path, Path]:
    """(cache, finished checkpoint) of the uninterrupted DSA run both DSA tests compare with."""
    root = tmp_path_factory.mktemp("whole")
    finish(train_args(root / "run", root / "cache", *CONFIG), root)
    return root / "cache", root / "run" / "checkpoints" / "checkpoint.pt"


def test_sigkill_then_resume_is_bit_identical(tmp_path, rng, whole):
    cache, expected = whole
    process = subprocess.Popen(train_args(tmp_path / "killed", cache, *CONFIG), cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    kill_at(process, tmp_path / "killed" / "metrics.csv", kill_step(rng))
    assert load_checkpoint(tmp_path / "killed" / "checkpoints" / "checkpoint.pt")["step"] % EVERY == 0
    finish([sys.executable, str(ROOT / "train.py"), f"resume={tmp_path / 'killed'}"], tmp_path)
    assert_same_training(tmp_path / "killed" / "checkpoints" / "checkpoint.pt", expected)


def test_staged_vdsm_killed_in_its_second_stage_resumes_bit_identically(tmp_path, rng):
    cache = tmp_path / "cache"
    config = ["experiment=vdsm_sprites_cpu", *tiny("vdsm", "sprites_vdsm"), "++pretrain_steps=6", f"trainer.max_steps={STEPS}",
              f"trainer.checkpoint_every={EVERY}", *SLOW]
    finish(train_args(tmp_path / "whole", cache, *config), tmp_path)
    process = subprocess.Popen(train_args(tmp_path / "killed", cache, *config), cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    kill_at(process, tmp_path / "killed" / "sequence" / "metrics.csv", kill_step(rng))
    finish([sys.executable, str(ROOT / "train.py"), f"resume={tmp_path / 'killed'}"], tmp_path)
    for stage in ("pretrain", "sequence"):
        assert_same_training(tmp_path / "killed" / stage / "checkpoints" / "checkpoint.pt",
                             tmp_path / "whole" / stage / "checkpoints" / "checkpoint.pt")


# Runs train.py with os.fsync replaced: when the second checkpoint's temp file is being synced, it is cut to half its
# size and the process waits to be killed, so the kill lands in the middle of a checkpoint write.
STALL_IN_SAVE = """
import os, runpy, sys, time
from pathlib import Path
marker, real_fsync, seen = Path(sys.argv[1]), os.fsync, []
def stalling_fsync(fd):
    if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
        seen.append(fd)
        if len(seen) == 2:
            os.ftruncate(fd, os.fstat(fd).st_size // 2)
            marker.write_text("writing")
            time.sleep(600)
    return real_fsync(fd)
os.fsync = stalling_fsync
sys.argv = [sys.argv[2], *sys.argv[3:]]
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))  # as `python train.py` would: the repository first
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_kill_during_a_checkpoint_write_keeps_the_previous_one(tmp_path, whole):
    (cache, expected), marker, run = whole, tmp_path / "writing", tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-c", STALL_IN_SAVE, str(marker), *train_args(run, cache, *CONFIG)[1:]],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert process.poll() is None, process.stderr.read()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert load_checkpoint(run / "checkpoints" / "checkpoint.pt")["step"] == EVERY  # the old one, whole
    assert len(list((run / "checkpoints").glob("*.tmp"))) == 1  # the killed write's half file
    finish([sys.executable, str(ROOT / "train.py"), f"resume={run}"], tmp_path)
    assert_same_training(run / "checkpoints" / "checkpoint.pt", expected)
    assert not list((run / "checkpoints").glob("*.tmp")), "the half-written temp file of the killed run is left behind"
