"""Data sets of the seqzoo model zoo, built reproducibly into a verified on-disk cache."""

from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset

from .bouncing_ball import BouncingBallDataset
from .bouncing_mnist import BouncingMNISTDataset
from .errors import DataError
from .fsdd import SpokenDigitsDataset
from .moving_mnist import MovingMNISTDataset
from .pendulum import PendulumDataset
from .sprites import SpritesDataset, SpritesHelmingerDataset, SpritesVDSMDataset
from .video_folder import VideoFolderDataset

DATASETS: dict[str, type[Dataset]] = {
    "sprites": SpritesDataset,  # DSA §4.1
    "sprites_vdsm": SpritesVDSMDataset,  # VDSM §4
    "sprites_helminger": SpritesHelmingerDataset,  # Helminger et al. App. A
    "moving_mnist": MovingMNISTDataset,  # Helminger App. A, VDSM §4
    "bouncing_mnist": BouncingMNISTDataset,  # Grathwohl & Wilson §4
    "bouncing_ball": BouncingBallDataset,  # DSA §4.3
    "pendulum": PendulumDataset,  # VDSM §4
    "spoken_digits": SpokenDigitsDataset,  # DSA §4.2 (FSDD in place of TIMIT)
    "video_folder": VideoFolderDataset,  # your own videos (e.g. MUG, Aff-Wild)
}
__all__ = ["DATASETS", "DataError", "build_dataset", *(cls.__name__ for cls in DATASETS.values())]


def build_dataset(name: str, split: str, **kwargs: Any) -> Dataset:
    """Build the registered data set ``name`` for ``split`` with its own keyword options."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid: {', '.join(sorted(DATASETS))}")
    return DATASETS[name](split, **kwargs)
