"""A judge's weights and report in the verified data cache: load, or train once and store."""
from __future__ import annotations

import json
import os
from typing import Any, Mapping

import numpy as np
import torch

from data.cache import entry_dir, load_or_build
from evaluation.judges.base import Judge
from evaluation.judges.settings import _build, _spec, judge_cache_settings, judge_settings
from evaluation.judges.training import check_strength, train_and_report



# ---------------------------------------------------------------- the cache
def _to_arrays(judge: Judge, report: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Weights as ``weights.<name>`` arrays plus the report as UTF-8 JSON bytes, for data/cache.py."""
    arrays = {f"weights.{k}": v.detach().cpu().numpy().copy() for k, v in judge.state_dict().items()}
    arrays["report"] = np.frombuffer(json.dumps(report, sort_keys=True).encode(), dtype=np.uint8).copy()
    return arrays


def _from_arrays(judge: Judge, arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Load cached weights into ``judge`` (eval mode, frozen) and return the cached report."""
    prefix = "weights."
    state = {k[len(prefix) :]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith(prefix)}
    judge.load_state_dict(state)
    judge.eval().requires_grad_(False)
    return json.loads(bytes(np.asarray(arrays["report"])).decode())


def load_or_train_judge(
    name: str, cache_dir: str | os.PathLike[str] | None = None, **settings: Any
) -> tuple[Judge, dict[str, Any]]:
    """Return (judge, report): cached weights for (settings, data keys), else trained on the train split first.

    The report holds the settings, the train/test data keys, training steps and seconds, and held-out
    accuracy per condition (clean, blurred, resampled) and head. Raises JudgeTooWeak (after caching)
    when a checked head is below ``min_accuracy`` (Sprites: 0.97 on every attribute, clean and blurred).
    """
    full = judge_settings(name, **settings)
    key = judge_cache_settings(name, full)
    trained: list[bool] = []

    def build() -> dict[str, np.ndarray]:
        judge, report = train_and_report(name, full, key, cache_dir)
        trained.append(True)
        return _to_arrays(judge, report)

    arrays = load_or_build(f"judge_{name}", key, build, cache_dir)
    judge = _build(_spec(name), full)
    report = _from_arrays(judge, arrays)
    report["from_cache"] = not trained
    report["cache_entry"] = str(entry_dir(f"judge_{name}", key, cache_dir))
    check_strength(name, report, full)
    return judge, report


