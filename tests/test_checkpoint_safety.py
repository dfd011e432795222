"""Checkpoints are untrusted input: loading never runs code from the file, and a foreign file is one line."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from inference.checkpoint import load_checkpoint, rng_state, run_config, set_rng_state
from inference.errors import CheckpointError

ROOT = Path(__file__).resolve().parents[1]


class Payload:
    """Unpickling this object runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def crafted_run(tmp_path: Path) -> tuple[Path, Path]:
    """A run directory whose checkpoint would create a file when unpickled with weights_only=False."""
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"step": 1, "model": {}, "guide": {}, "config": {}, "evil": Payload(marker)}, run / "checkpoints" / "checkpoint.pt")
    return run, marker


def test_a_checkpoint_that_would_run_code_is_refused_and_the_code_never_runs(tmp_path):
    run, marker = crafted_run(tmp_path)
    with pytest.raises(CheckpointError, match="refused: it asks to import .*system.*could run code"):
        load_checkpoint(run / "checkpoints" / "checkpoint.pt")
    assert not marker.exists()


@pytest.mark.parametrize("script,argument", [("evaluate.py", "run={run}"), ("train.py", "resume={run}")])
def test_cli_refuses_a_crafted_checkpoint_in_one_line(tmp_path, script, argument):
    run, marker = crafted_run(tmp_path)
    result = subprocess.run([sys.executable, str(ROOT / script), argument.format(run=run)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "refused" in result.stderr and "Traceback" not in result.stderr
    assert not marker.exists()


def test_a_safe_file_without_our_config_is_one_line_not_a_hydra_traceback(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"step": 3, "model": {}, "guide": {}, "config": {}}, run / "checkpoints" / "checkpoint.pt")
    state = load_checkpoint(run / "checkpoints" / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="no usable config: missing model, guide, data"):
        run_config(state, run)
    result = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), f"run={run}"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "no usable config" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("content,message", [([1, 2], "holds a list"), ({"step": "1", "model": {}, "guide": {}, "config": {}}, "malformed step")])
def test_foreign_files_are_one_line(tmp_path, content, message):
    torch.save(content, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "c.pt")


def test_rng_state_round_trips_through_a_weights_only_load(tmp_path):
    np.random.seed(7)
    np.random.normal()  # leaves a cached Gaussian in NumPy's state
    state = rng_state()
    torch.save({"step": 1, "model": {}, "guide": {}, "config": {}, "rng": state}, tmp_path / "c.pt")
    expected = np.random.normal(size=3), torch.rand(3)
    set_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"])
    got = np.random.normal(size=3), torch.rand(3)
    assert np.array_equal(expected[0], got[0]) and torch.equal(expected[1], got[1])


def test_an_older_checkpoint_with_a_numpy_rng_tuple_still_loads(tmp_path):
    legacy = {"python": rng_state()["python"], "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    torch.save({"step": 1, "model": {}, "guide": {}, "config": {}, "rng": legacy}, tmp_path / "c.pt")
    expected = np.random.rand(2)
    set_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"])
    assert np.array_equal(np.random.rand(2), expected)
