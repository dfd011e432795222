"""Random frame subsets for models of unordered frames (Helminger et al. 2018: N = 3 random frames per step)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .base import read_frames
from .errors import DataError


class RandomFrames(Dataset):
    """Each access returns ``frames`` distinct frames of a sequence, in random order, drawn with torch's global RNG.

    The global RNG is seeded by the trainer and saved in its checkpoints, so the draws repeat exactly on resume.
    """

    def __init__(self, dataset: Dataset, frames: int) -> None:
        if frames > dataset.seq_len:
            raise DataError(f"cannot draw {frames} frames from sequences of {dataset.seq_len}")
        self.dataset, self.frames = dataset, frames
        self.frame_shape, self.seq_len = dataset.frame_shape, frames
        self.labels_info = getattr(dataset, "labels_info", {})

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        chosen = torch.randperm(self.dataset.seq_len)[: self.frames]
        x = read_frames(self.dataset, np.full(self.frames, index), chosen.numpy())
        return {"x": x, "frame_index": chosen}


def frames_seen_by(model: Any, dataset: Dataset) -> Dataset:
    """The sequences as ``model`` trains on them: a ``RandomFrames`` view when it declares ``frames_per_step``
    (unordered models), else ``dataset`` itself."""
    frames = getattr(model, "frames_per_step", None)
    return RandomFrames(dataset, frames) if frames else dataset
