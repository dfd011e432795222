"""Data sets of the seqzoo model zoo, built reproducibly into a verified on-disk cache."""

from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset

from .errors import DataError
from .sprites import SpritesDataset, SpritesHelmingerDataset, SpritesVDSMDataset
from .moving_mnist import MovingMNISTDataset
from .bouncing_mnist import BouncingMNISTDataset

__all__ = ["DATASETS", "DataError", "SpritesDataset", "build_dataset"]
__all__ += ["SpritesVDSMDataset", "SpritesHelmingerDataset"]
__all__ += ["MovingMNISTDataset", "BouncingMNISTDataset"]

DATASETS: dict[str, type[Dataset]] = {"sprites": SpritesDataset}
DATASETS["sprites_vdsm"] = SpritesVDSMDataset
DATASETS["sprites_helminger"] = SpritesHelmingerDataset
DATASETS["moving_mnist"] = MovingMNISTDataset
DATASETS["bouncing_mnist"] = BouncingMNISTDataset


def build_dataset(name: str, split: str, **kwargs: Any) -> Dataset:
    """Build the registered data set ``name`` for ``split`` with its own keyword options."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid: {', '.join(sorted(DATASETS))}")
    return DATASETS[name](split, **kwargs)
