"""Batch keys: what a data set's items give, what a model or guide takes beyond ``x``, and the arguments of a call.

A model or guide that needs more than the frames (labels, augmented views) declares the extra item keys it takes as
a class attribute ``takes = ("views",)`` and accepts them as optional keyword arguments of ``forward`` (None when
it generates or is evaluated). The trainer collates those keys with ``x`` and passes each program its own.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch.utils.data import Dataset, default_collate

from inference.errors import ConfigError


def takes(fn: Callable) -> tuple[str, ...]:
    """The batch keys beyond ``x`` that a model or guide takes as keyword arguments (class attribute ``takes``)."""
    return tuple(getattr(fn, "takes", None) or ())


def taken_keys(model: Callable, guide: Callable) -> tuple[str, ...]:
    """The batch keys beyond ``x`` that the model or the guide takes, sorted: what the trainer collates."""
    return tuple(sorted(set(takes(model)) | set(takes(guide))))


def batch_keys(dataset: Dataset) -> tuple[str, ...]:
    """The keys of a data set's items: its ``batch_keys`` declaration, else those of its first item."""
    declared = getattr(dataset, "batch_keys", None)
    return tuple(declared) if declared else tuple(dataset[0])


def check_batch_keys(model: Callable, guide: Callable, given: Sequence[str], data_name: str = "the data set") -> None:
    """Refuse, in one line, a model or guide that takes keys the data set's items do not give."""
    for kind, fn in (("model", model), ("guide", guide)):
        missing = [key for key in takes(fn) if key not in given]
        if missing:
            raise ConfigError(f"{kind} '{getattr(fn, 'name', type(fn).__name__)}' takes batch keys {missing} that {data_name} "
                              f"does not give (its items give: {', '.join(given)})")


def collate(items: list[dict[str, Any]], keys: Sequence[str]) -> tuple[torch.Tensor, dict[str, Any]]:
    """``x`` and the ``keys`` of a list of items, each collated over the batch."""
    batch = default_collate([{key: item[key] for key in ("x", *keys)} for item in items])
    return batch.pop("x"), batch


def on_device(x: torch.Tensor, extras: dict[str, Any], device: torch.device | str) -> tuple[torch.Tensor, dict[str, Any]]:
    """``x`` and the tensors of ``extras`` moved to ``device``."""
    return x.to(device), {key: value.to(device) if torch.is_tensor(value) else value for key, value in extras.items()}


def keyword_args(fn: Callable, extras: dict[str, Any] | None) -> dict[str, Any]:
    """The entries of ``extras`` that ``fn`` takes."""
    return {key: extras[key] for key in takes(fn) if extras and key in extras}
