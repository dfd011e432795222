"""Mixed precision for the networks only (``trainer.precision=bf16``): the ELBO terms stay in float32.

Every network a model or guide owns (its direct child modules: decoders, encoders, recurrent cells, Gaussian heads)
runs under ``torch.autocast`` in bfloat16, and hands its outputs back in float32. The distributions built from those
outputs, their log-densities, the analytic KLs, the sums over pixels and the optimiser all stay in float32, so only
the networks' arithmetic is rounded (CPUs with AMX / AVX512-BF16 and GPUs run it faster). Recurrent layers (LSTM, RNN
and their cells) stay float32 islands inside: oneDNN has no bfloat16 LSTM on many CPUs, and they are not where a
conv model spends its time.
"""
from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


def _to_float32(value: Any) -> Any:
    """Reduced-precision floating tensors (also inside tuples, lists and dicts) back to float32."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() and value.dtype != torch.float32 else value
    if isinstance(value, tuple):
        return type(value)(*map(_to_float32, value)) if hasattr(value, "_fields") else tuple(map(_to_float32, value))
    if isinstance(value, list):
        return [_to_float32(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_float32(v) for k, v in value.items()}
    return value


def _autocast_forward(forward, device_type: str, dtype: torch.dtype):
    @functools.wraps(forward)
    def wrapped(*args, **kwargs):
        with torch.autocast(device_type, dtype=dtype):
            return _to_float32(forward(*args, **kwargs))

    wrapped.autocast_dtype = dtype
    return wrapped


def _float32_forward(forward, device_type: str):
    @functools.wraps(forward)
    def wrapped(*args, **kwargs):
        with torch.autocast(device_type, enabled=False):
            return forward(*_to_float32(args), **_to_float32(kwargs))

    wrapped.autocast_dtype = torch.float32
    return wrapped


def set_precision(precision: str, device: torch.device, *owners: nn.Module) -> list[str]:
    """Run the networks of ``owners`` (their direct children) in ``precision``; returns the wrapped module paths."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    dtype = PRECISIONS[precision]
    if dtype is None:
        return []
    wrapped = []
    for index, owner in enumerate(owners):
        for name, child in owner.named_children():
            if getattr(child.forward, "autocast_dtype", None) is None:
                child.forward = _autocast_forward(child.forward, device.type, dtype)  # an instance attribute: state_dict unchanged
            wrapped.append(f"{index}.{name}")
        for module in owner.modules():
            if isinstance(module, (nn.RNNBase, nn.RNNCellBase)) and getattr(module.forward, "autocast_dtype", None) is None:
                module.forward = _float32_forward(module.forward, device.type)
    return wrapped
