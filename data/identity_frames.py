"""Frames pooled over every sequence of one identity: VDSM's first stage (§3.2) "group[s] images from the same
individuals/identities into batches", treating the data as non-sequential, so what a group shares is the identity."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .base import read_frames
from .errors import DataError


class IdentityFrames(Dataset):
    """Item i: ``frames`` distinct frames (0: a sequence's length) drawn at random from all the sequences sharing
    sequence i's ``identity`` label (e.g. a Sprites character's 9 actions), in random order, with torch's global RNG.

    The trainer seeds that RNG and saves it in its checkpoints, so the draws repeat exactly on resume. An identity
    shown by one sequence only gives that sequence's frames, shuffled; a group larger than the fewest frames an
    identity shows is refused.
    """

    def __init__(self, dataset: Dataset, identity: str, frames: int = 0) -> None:
        labels = getattr(dataset, "labels", {})
        if identity not in labels:
            raise DataError(f"cannot pool frames by identity: the data set has no label {identity!r} "
                            f"(labels: {', '.join(sorted(labels)) or 'none'})")
        if frames and frames < 2:  # 0: a sequence's length
            raise DataError(f"an identity group needs at least 2 frames to share an identity, got {frames}")
        self.dataset, self.identity = dataset, identity
        self.frame_shape, self.frames_per_sequence = dataset.frame_shape, dataset.seq_len
        self.seq_len = frames or dataset.seq_len  # frames per item
        self.labels_info = getattr(dataset, "labels_info", {})
        self.who = np.asarray(labels[identity])
        self.groups = {value: np.flatnonzero(self.who == value) for value in np.unique(self.who)}  # identity -> its sequences
        fewest = min(len(members) for members in self.groups.values()) * self.frames_per_sequence
        if self.seq_len > fewest:
            raise DataError(f"identity groups of {self.seq_len} frames, but one {identity} shows only {fewest} frames; use at most {fewest}")

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        members = self.groups[self.who[index]]
        chosen = torch.randperm(len(members) * self.frames_per_sequence)[: self.seq_len].numpy()
        x = read_frames(self.dataset, members[chosen // self.frames_per_sequence], chosen % self.frames_per_sequence)
        return {"x": x, self.identity: torch.as_tensor(int(self.who[index]))}


def pooled_by_identity(model: Any, dataset: Dataset, identity: str | None) -> Dataset:
    """The training items of ``model``: an ``IdentityFrames`` view pooled by the data's ``identity`` label when the
    model declares ``pools_identity_frames`` (VDSM stage 1, §3.2), else ``dataset`` itself."""
    if not getattr(model, "pools_identity_frames", False):
        return dataset
    if identity is None:
        raise DataError(f"model '{getattr(model, 'name', type(model).__name__)}' pools frames by identity "
                        "(pool_identity_frames=true), but the data config declares no evaluation.identity label")
    return IdentityFrames(dataset, identity, getattr(model, "identity_group_size", 0))
