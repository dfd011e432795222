"""What every judge shares: errors, constants, the ``Judge`` network base, labelled data and the ``JudgeSpec``
that says what one judge name means."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from evaluation.judges.augmentation import degrade
from evaluation.judges.common import PIXEL_RANGE, JudgeError



# ---------------------------------------------------------------- judges
class Judge(nn.Module):
    """Base class: ``forward(x)`` -> logits per head, ``predict(x)`` -> probabilities per head.

    Subclasses set ``heads`` (head -> number of classes), ``levels`` (head -> "frame" | "sequence"),
    ``loss_heads`` (the heads trained directly), ``input_ndim``/``input_tail`` (checked input shape)
    and ``image_ndim`` (3: frames (C, H, W); 2: a (T, F) segment seen as a one-channel image).
    ``features(x)`` -> (N, F) per-sequence features (the FVD-judge space) for judges that define
    ``sequence_features``; it reads the trained layers only, so it adds no parameters to the cache key.
    """

    name = ""
    heads: dict[str, int] = {}
    levels: dict[str, str] = {}
    loss_heads: tuple[str, ...] = ()
    input_ndim: int | None = None  # None: any number of leading dimensions
    input_tail: tuple[int, ...] = ()
    image_ndim = 3
    static_heads: tuple[str, ...] = ()  # factors the static latent should carry: DSA Table 1 fixes f, samples z
    motion_heads: tuple[str, ...] = ()  # factors the motion latents should carry: fix z (and d), sample f
    bounded = True  # inputs are images in [0, 1]: predict / features clip decoded means to it

    def clip(self, x: torch.Tensor) -> torch.Tensor:
        """A valid judge input: clipped to [0, 1] for image judges (a no-op on real data), as is otherwise."""
        return x.clamp(0, 1) if self.bounded else x

    def sequence_heads(self) -> tuple[str, ...]:
        """Heads with one prediction per sequence: sequence-level heads, and frame-level heads without a
        ``<head>_sequence`` twin (their frame probabilities are averaged over time by ``predict_sequences``)."""
        return tuple(h for h, level in self.levels.items() if level == "sequence" or f"{h}_sequence" not in self.heads)

    def predict_sequences(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Class probabilities (N, K) per sequence of x (N, T, ...) for every head in ``sequence_heads``."""
        probabilities = self.predict(x)
        return {h: probabilities[h] if self.levels[h] == "sequence" else probabilities[h].mean(1) for h in self.sequence_heads()}

    def check_input(self, x: torch.Tensor) -> None:
        """Raise JudgeError unless x is a float tensor of the shape this judge reads."""
        tail = tuple(x.shape[-len(self.input_tail) :]) if self.input_tail else ()
        bad_ndim = x.dim() != self.input_ndim if self.input_ndim else x.dim() <= len(self.input_tail)
        if not torch.is_floating_point(x) or bad_ndim or tail != self.input_tail:
            want = f"{self.input_ndim}-d" if self.input_ndim else "(..., " + ", ".join(map(str, self.input_tail)) + ")"
            raise JudgeError(
                f"{self.name} judge reads float tensors {want} ending in {self.input_tail}, "
                f"got {x.dtype} {tuple(x.shape)}"
            )

    def as_images(self, x: torch.Tensor) -> torch.Tensor:
        """View an input batch as (N, C, H, W) images for degradations."""
        if self.image_ndim == 3:
            return x.reshape(-1, *x.shape[-3:])
        return x.reshape(-1, 1, *x.shape[-2:])

    def degraded(self, x: torch.Tensor, condition: str) -> torch.Tensor:
        """Return the input batch under an evaluation condition (same shape)."""
        return degrade(self.as_images(x), condition).reshape(x.shape)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 256) -> dict[str, torch.Tensor]:
        """Return class probabilities per head (softmax over the last axis), batched over x's first axis."""
        self.check_input(x)
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        try:
            parts = [self(self.clip(x[i : i + batch_size]).to(device)) for i in range(0, x.shape[0], batch_size)]
        finally:
            self.train(was_training)
        return {head: torch.cat([p[head] for p in parts]).softmax(-1).to(x.device) for head in parts[0]}

    def sequence_features(self, x: torch.Tensor) -> torch.Tensor:
        """Per-sequence feature vectors (B, F) of a checked batch; judges without a read-out raise JudgeError."""
        raise JudgeError(f"the {self.name or type(self).__name__} judge exposes no sequence features")

    @torch.no_grad()
    def features(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Per-sequence features (N, F) of sequences x (N, T, ...), in eval mode, batched: the FVD-judge space."""
        self.check_input(x)
        if x.dim() < 2 + len(self.input_tail):
            frame = ", ".join(map(str, self.input_tail))
            raise JudgeError(f"{self.name} judge features need sequences (N, T, {frame}), got {tuple(x.shape)}")
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        try:
            parts = [self.sequence_features(self.clip(x[i : i + batch_size]).to(device)) for i in range(0, x.shape[0], batch_size)]
        finally:
            self.train(was_training)
        return torch.cat(parts).to(x.device)


# ---------------------------------------------------------------- labelled data
@dataclass
class LabelledData:
    """One split as arrays: ``inputs`` (N, T, ...) uint8 frames (channels last) or float features, labels (N,)."""

    split: str
    inputs: np.ndarray
    labels: dict[str, np.ndarray]
    pixel_scale: float | None  # uint8 frames: multiply by this; None: float features used as they are

    def __len__(self) -> int:
        """Return the number of sequences."""
        return int(self.inputs.shape[0])

    @property
    def seq_len(self) -> int:
        """Frames per sequence."""
        return int(self.inputs.shape[1])

    def batch(self, rows: np.ndarray, frames: np.ndarray | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return (x (B, T', ...) float, labels (B, ...) long) of the given rows (and frames, default all)."""
        rows = np.asarray(rows)
        chunk = self.inputs[rows] if frames is None else self.inputs[rows[:, None], np.asarray(frames)[None, :]]
        if self.pixel_scale is None:
            x = torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32))
        else:
            x = torch.from_numpy(np.ascontiguousarray(chunk)).permute(0, 1, 4, 2, 3).float().mul_(self.pixel_scale)
        labels = {key: torch.from_numpy(np.asarray(values[rows], dtype=np.int64)) for key, values in self.labels.items()}
        return x.contiguous(), labels


# ---------------------------------------------------------------- the judges' settings, data and networks
UNKEYED = ("eval_batch_size", "min_accuracy", "check_conditions")  # do not change the weights or the report


@dataclass(frozen=True)
class JudgeSpec:
    """What one judge name means: data keys and loading, network, label of each head (its defaults: conf/judge/<name>.yaml)."""

    name: str
    data_key: Callable[[str, dict[str, Any]], dict[str, Any]]
    load: Callable[[str, dict[str, Any], Any], LabelledData]
    build: Callable[[dict[str, Any]], Judge]
    targets: Callable[[dict[str, Any]], dict[str, tuple[str, int | None]]]  # head -> (label key, column)
    check_heads: Callable[[dict[str, Any]], tuple[str, ...]]
    value_range: tuple[float, float] | None = PIXEL_RANGE
    fit: Callable[[Mapping[str, Any]], dict[str, Any] | str] = lambda data: {}  # data config -> settings that match it, or why it cannot


