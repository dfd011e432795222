"""Shape handling every model shares: batch size, length and device of a call, with a clear error for bad input."""
from __future__ import annotations

import torch
from torch import nn


def sequence_sizes(model: nn.Module, x: torch.Tensor | None, batch_size: int | None, seq_len: int | None) -> tuple[int, int, torch.device]:
    """From observed x (B, T, *model.frame_shape), or from the arguments when generating (defaults 1 and model.seq_len)."""
    if x is None:
        return batch_size or 1, seq_len or model.seq_len, next(model.parameters()).device
    if x.dim() != 2 + len(model.frame_shape) or tuple(x.shape[2:]) != tuple(model.frame_shape):
        raise ValueError(f"{model.name} expects x of shape (batch, time, {', '.join(map(str, model.frame_shape))}), got {tuple(x.shape)}")
    return x.shape[0], x.shape[1], x.device
