"""Generic torch Dataset over cached uint8 video arrays."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch.utils.data import Dataset


class ArraySequenceDataset(Dataset):
    """Sequences from a dict of arrays: uint8 ``frames`` (N, T, H, W, C) plus per-sequence integer labels.

    Subclasses set ``name``, ``frame_shape`` (C, H, W), ``seq_len``, ``labels_info``
    and ``pixel_scale``; items are ``{"x": float32 (T, C, H, W), <label>: long}``.
    """

    name: str = ""
    frame_shape: tuple[int, int, int] = (0, 0, 0)
    seq_len: int = 0
    labels_info: Mapping[str, Any] = {}
    pixel_scale: float = 1.0 / 255.0
    label_keys: tuple[str, ...] = ()

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Keep the (usually memory-mapped) arrays; labels are the keys in ``label_keys``."""
        self.frames = arrays["frames"]
        self.labels = {key: arrays[key] for key in self.label_keys}

    def __len__(self) -> int:
        """Return the number of sequences."""
        return int(self.frames.shape[0])

    def frames_to_tensor(self, frames: np.ndarray) -> torch.Tensor:
        """Turn uint8 (T, H, W, C) frames into float32 (T, C, H, W) times ``pixel_scale``."""
        x = np.ascontiguousarray(frames.transpose(0, 3, 1, 2), dtype=np.float32)
        return torch.from_numpy(x).mul_(self.pixel_scale)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """Return sequence ``index``: ``x`` plus integer labels as long and float labels (positions, angles) as float32."""
        item = {"x": self.frames_to_tensor(self.frames[index])}
        for key, values in self.labels.items():
            value = np.asarray(values[index])
            dtype = np.float32 if np.issubdtype(value.dtype, np.floating) else np.int64
            item[key] = torch.as_tensor(np.array(value, dtype=dtype))
        return item


def read_frames(dataset: Dataset, sequences: np.ndarray, frames: np.ndarray) -> torch.Tensor:
    """Frames ``frames[i]`` of sequences ``sequences[i]`` as float32 (K, C, H, W): from cached uint8 arrays only the
    chosen frames are read; any other data set is indexed once per distinct sequence."""
    if hasattr(dataset, "frames_to_tensor"):
        return dataset.frames_to_tensor(np.asarray(dataset.frames[np.asarray(sequences), np.asarray(frames)]))
    videos = {int(s): dataset[int(s)]["x"] for s in np.unique(sequences)}
    return torch.stack([videos[int(s)][int(t)] for s, t in zip(sequences, frames)])
