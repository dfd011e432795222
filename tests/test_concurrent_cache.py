"""Two real processes building the same cache entry at once (two sweep jobs starting together): both succeed, one
entry remains and it verifies; for a data set and for a judge."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from data.cache import MANIFEST, load_entry

sys.path.insert(0, str(Path(__file__).parent))
from test_config import TINY  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run_together(commands: list[list[str]], cwd: Path) -> None:
    """Start every command at once and require each to succeed."""
    processes = [subprocess.Popen(c, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
    for process in processes:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]


def entries(cache: Path, prefix: str) -> list[Path]:
    """Entries of ``cache`` named ``prefix-<key>``; fails on temp or trash directories left behind."""
    leftovers = [p.name for p in cache.iterdir() if p.name.startswith(".")]
    assert not leftovers, f"temp or trash directories left in the cache: {leftovers}"
    return sorted(p for p in cache.iterdir() if p.name.startswith(prefix + "-"))


def test_two_training_processes_on_an_empty_cache(tmp_path):
    cache = tmp_path / "cache"
    run_together([[sys.executable, str(ROOT / "train.py"), *TINY, f"cache_dir={cache}", f"hydra.run.dir={tmp_path / name}"]
                  for name in ("a", "b")], tmp_path)
    for split in ("train", "test"):
        found = entries(cache, f"sprites-{split}")
        assert len(found) == 1 and (found[0] / MANIFEST).is_file()
        load_entry(found[0])  # re-hashes every array against the manifest
    assert (tmp_path / "a" / "checkpoints" / "checkpoint.pt").is_file() and (tmp_path / "b" / "checkpoints" / "checkpoint.pt").is_file()


def test_two_processes_training_the_same_judge(tmp_path):
    cache = tmp_path / "cache"
    judge = [sys.executable, "-m", "evaluation.judges", "sprites", "train_characters=2", "test_characters=1", "max_steps=2",
             "min_accuracy=null", f"cache_dir={cache}"]
    run_together([judge, judge], ROOT)
    found = entries(cache, "judge_sprites")
    assert len(found) == 1
    load_entry(found[0])
