"""Validators the synthetic data sets share: one-line DataErrors for a bad split, integer or fraction option."""
from __future__ import annotations

import numpy as np

from .errors import DataError

SPLITS = ("train", "test")


def check_split(split: str) -> None:
    """Raise DataError unless split is 'train' or 'test'."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")


def check_int(name: str, value: object, low: int, high: int) -> int:
    """Return value as int if it is an int (not bool) in [low, high], else raise DataError."""
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not is_int or not low <= value <= high:
        raise DataError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    return int(value)


def check_fraction(name: str, value: object) -> float:
    """Return value as float if it is a number in (0, 1), else raise DataError."""
    is_number = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    if not is_number or not 0.0 < float(value) < 1.0:
        raise DataError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)
