"""Atomic checkpoints (temp file + rename) holding params, optimiser state, RNG states, step and config."""
from __future__ import annotations

import io
import os
import pickle
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inference.errors import CheckpointError


def rng_state() -> dict[str, Any]:
    """Every RNG a training step can touch: Python, NumPy, torch CPU and (if present) CUDA, as tensors and plain
    containers only, so that a checkpoint loads with ``torch.load(weights_only=True)``."""
    name, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    state = {
        "python": random.getstate(),  # (version, tuple of ints, float or None)
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured (also the raw NumPy tuple of checkpoints written before it was a dict)."""
    random.setstate(state["python"])
    numpy_state = state["numpy"]
    if isinstance(numpy_state, dict):
        keys = numpy_state["keys"].numpy().astype(np.uint32)
        numpy_state = (numpy_state["name"], keys, numpy_state["pos"], numpy_state["has_gauss"], numpy_state["cached_gaussian"])
    np.random.set_state(numpy_state)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` so that ``path`` always holds either the old or the new complete checkpoint; a failed write
    (no space, file-size limit, read-only folder, quota) leaves the old one and is a one-line :class:`CheckpointError`."""
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(state, buffer)  # serialised in memory first: a failing disk write then raises OSError with its cause
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(handle, "wb") as tmp:
            tmp.write(buffer.getbuffer())
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, 0o666 & ~current_umask())  # mkstemp makes it 0600; a shared run dir wants the user's umask
        os.replace(tmp_name, path)
    except OSError as err:
        raise CheckpointError(f"could not write checkpoint {path}: {err.strerror or err}; the previous checkpoint, if any, "
                              "is unchanged and training stopped (free space or choose another run directory)") from None
    finally:
        if tmp_name is not None and Path(tmp_name).exists():
            Path(tmp_name).unlink(missing_ok=True)
    for stale in path.parent.glob(path.name + ".*.tmp"):  # half-written files of a process killed mid-write
        stale.unlink(missing_ok=True)


def current_umask() -> int:
    """The process's umask (reading it means setting it; it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# What a checkpoint of an earlier version may hold besides tensors and plain containers: its NumPy RNG state (an
# ndarray of uint32). Nothing else is allowed: unpickling any other global could run code from the file.
LEGACY_SAFE_GLOBALS = [np.ndarray, np.dtype, np.dtypes.UInt32DType, np._core.multiarray._reconstruct]
REQUIRED_KEYS = {"step": int, "model": dict, "guide": dict, "config": dict}


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint safely (``weights_only``: tensors, numbers, strings and plain containers; no code runs);
    a missing, unreadable, unsafe or foreign file is a one-line error naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with torch.serialization.safe_globals(LEGACY_SAFE_GLOBALS):
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"(?:unsupported|Unsupported global:) GLOBAL ([\w.]+)", str(err))
        if found is None and "GLOBAL" not in str(err):
            detail = [line for line in str(err).split("WeightsUnpickler error:")[-1].splitlines() if line.strip()][:1] or ["unknown"]
            raise CheckpointError(f"checkpoint {path} is unreadable or unsafe (not tensors and plain containers: {detail[0].strip()})") from None
        what = f"it asks to import {found.group(1)}" if found else "it holds objects other than tensors and plain containers"
        raise CheckpointError(f"checkpoint {path} refused: {what}, and loading it could run code from the file; "
                              "seqzoo's own checkpoints hold only tensors, numbers, strings and plain containers") from None
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''})") from None
    check_state(state, path)
    return state


def check_state(state: Any, path: Path) -> None:
    """Refuse, in one line, a file that loads but is not a seqzoo checkpoint (no step, weights or config of ours)."""
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} is not a seqzoo checkpoint (it holds a {type(state).__name__}, not a dict)")
    wrong = [key for key, kind in REQUIRED_KEYS.items() if not isinstance(state.get(key), kind)]
    if wrong:
        raise CheckpointError(f"checkpoint {path} is not a seqzoo checkpoint: missing or malformed {', '.join(wrong)}")


def run_config(state: dict[str, Any], path: str | os.PathLike) -> dict[str, Any]:
    """The composed config a run saved in its checkpoint; one line when it lacks what rebuilding the run needs."""
    config = state["config"]
    missing = [key for key in ("model", "guide", "data") if not isinstance(config.get(key), dict)]
    if missing:
        raise CheckpointError(f"checkpoint {path} has no usable config: missing {', '.join(missing)} (a seqzoo run saves its whole config)")
    return config
