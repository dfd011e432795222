"""Data sets of the seqzoo model zoo, built reproducibly into a verified on-disk cache."""

from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset

from inference.registry import discover, unique_by

from .errors import DataError


def _is_dataset(cls: type) -> bool:
    """A data set: a ``Dataset`` with a registry ``name`` (the ``data.name`` of its config, also its cache-entry name)."""
    return issubclass(cls, Dataset) and isinstance(getattr(cls, "name", None), str) and cls.name != ""


DATASETS: dict[str, type[Dataset]] = {
    cls.name: cls for cls in unique_by(discover(__name__, _is_dataset), lambda cls: [cls.name], "data sets")
}  # every data set class of this package's modules (sprites, sprites_vdsm, sprites_helminger, moving_mnist,
#    bouncing_mnist, bouncing_ball, pendulum, spoken_digits, video_folder): a new data set is a new file
__all__ = ["DATASETS", "DataError", "build_dataset"]


def build_dataset(name: str, split: str, evaluation: Any = None, **kwargs: Any) -> Dataset:
    """Build the registered data set ``name`` for ``split`` with its own keyword options (``evaluation`` is the data
    config's block for the metrics, evaluation/facts.py, not an option of the data set)."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid: {', '.join(sorted(DATASETS))}")
    return DATASETS[name](split, **kwargs)
