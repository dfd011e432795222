"""Data sets of the seqzoo model zoo, built reproducibly into a verified on-disk cache."""

from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset

from .errors import DataError
from .sprites import SpritesDataset

__all__ = ["DATASETS", "DataError", "SpritesDataset", "build_dataset"]

DATASETS: dict[str, type[Dataset]] = {"sprites": SpritesDataset}


def build_dataset(name: str, split: str, **kwargs: Any) -> Dataset:
    """Build the registered data set ``name`` for ``split`` with its own keyword options."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid: {', '.join(sorted(DATASETS))}")
    return DATASETS[name](split, **kwargs)
