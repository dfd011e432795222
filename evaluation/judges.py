"""Judges: classifiers trained on labelled real data that score generated sequences (issue 4).

The papers judge generated videos with classifiers trained on labelled real frames (DSA 2018 §4.1
"a classifier trained on the labelled frames", Table 1 and Figure 4; VDSM §4; Grathwohl & Wilson §4.1).
Their weights are not public or not rebuildable, so we train our own, from config, on the TRAIN split
only, and report their accuracy on the held-out TEST split on clean real data and on degraded real
data (3x3 box blur; down/up-resampling). A judge trained only on clean frames is fooled by blur
(DESIGN-NOTES "Judges": 100 % clean, body 73 % / pants 70 % blurred), which would be reported as a
disentanglement failure of a blurry VAE; so every judge trains with augmentation that mimics VAE
reconstructions: random 3x3 box blur, down/up-resampling and Gaussian noise.

Judges (``load_or_train_judge(name, cache_dir=None, **settings) -> (judge, report)``):

* ``sprites``: sequences (B, T, 3, 64, 64) in [0, 1] -> per-frame attribute probabilities
  ``body``/``bottomwear``/``topwear``/``hair`` (B, T, 6) (DSA's skin colour, pants, top, hair), the
  per-sequence attributes ``<attribute>_sequence`` (B, 6) = softmax of the time-averaged frame logits
  (the normalised geometric mean of the frame probabilities), and ``action`` (B, 9) = 3 * action +
  direction, from a temporal convolution over the frame features pooled over time. A small conv net
  (networks.FrameEncoder) per frame. ``dataset: sprites_vdsm`` trains the same judge on VDSM's Sprites.
* ``mnist``: frames (..., 1, 64, 64) -> ``digit`` (..., 10) per frame. Trained on single-digit frames
  of bouncing_mnist (train split = MNIST train digits; test split = MNIST test digits, never seen).
  The bouncing_mnist generator is the moving_mnist one with one digit, so the judge also fits
  moving_mnist_vdsm (num_digits=1) frames; two-digit moving_mnist frames need a multi-label judge
  (not provided).
* ``spoken_digits``: 200 ms segments (B, T, 129) of normalised log spectra -> ``speaker`` (B, 6) and
  ``digit`` (B, 10). Split by take (the official FSDD split), so every speaker is in both splits.
  The inputs are normalised with the training-split statistics of the data settings, so the judge's
  data settings must equal those of the evaluated data set (the defaults match conf/data/spoken_digits).

Weights and report are cached with data/cache.py (atomic, verified; a damaged entry is rebuilt) in
``<cache_dir>/judge_<name>-<key>/``, key = hash of the judge settings that change the weights, the
architecture, and the cache settings of the train and test data. ``min_accuracy`` is not in the key:
a judge below it is cached and then refused with ``JudgeTooWeak``.

``python -m evaluation.judges sprites [key=value ...]`` trains (or loads) a judge and prints its report.

Measured at full size with the default settings on the 2-core development machine (otherwise idle;
held-out accuracy clean / 3x3-blurred / down-up-resampled; loading a cached judge takes about 2 s):

* sprites: 843 steps in 117 s (133 s with data loading and evaluation); every attribute and the action
  >= 99.99 % on all three conditions (296 test characters, 2664 sequences). Stress test, same weights:
  5x5 blur >= 99.6 %, noise std 0.1 >= 99.6 %, 4x down/up-sampling 95.6 % (topwear) to 100 %. Trained
  without augmentation it is 100 % clean but 87 % (body) and 85 % (bottomwear) on blurred frames.
* mnist: 936 steps in 150 s (247 s in all: the evaluation reads 32000 test frames three times);
  digit 98.4 / 98.3 / 98.2 %.
* spoken_digits: 4320 steps in 22 s; speaker 99.6 / 99.8 / 99.8 %, digit 93.9 / 93.9 / 94.5 % (505 test
  segments; a 200 ms segment can hold only part of a word, so the digit is sometimes ambiguous).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from data import bouncing_mnist, moving_mnist
from data import fsdd
from data import sprites as sprites_data
from data.bouncing_mnist import BouncingMNISTDataset
from data.cache import entry_dir, load_or_build
from data.errors import DataError
from data.fsdd import SpokenDigitsDataset
from data.sprites import SpritesDataset, SpritesVDSMDataset
from networks.frames import FrameEncoder

__all__ = [
    "JUDGES",
    "CONDITIONS",
    "Judge",
    "JudgeError",
    "JudgeTooWeak",
    "LabelledData",
    "SpritesJudge",
    "DigitFrameJudge",
    "SpokenDigitsJudge",
    "add_noise",
    "augment",
    "box_blur",
    "build_judge",
    "degrade",
    "evaluate",
    "fit",
    "judge_cache_settings",
    "judge_settings",
    "load_data",
    "load_or_train_judge",
    "resample",
]

log = logging.getLogger(__name__)

JUDGE_VERSION = 1
CONDITIONS = ("clean", "blurred", "resampled")  # evaluation conditions of the held-out data
SPRITES_MIN_ACCURACY = 0.97
PIXEL_RANGE = (0.0, 1.0)


class JudgeError(ValueError):
    """A judge cannot be built, trained or used as asked (bad name, setting or input)."""


class JudgeTooWeak(RuntimeError):
    """A judge's held-out accuracy is below the required threshold."""


# ---------------------------------------------------------------- degradations (augmentation and evaluation)
def box_blur(images: torch.Tensor, size: int = 3) -> torch.Tensor:
    """Blur (N, C, H, W) images with a size x size box filter; edges replicated, so constants stay constant."""
    if size <= 1:
        return images
    before, after = (size - 1) // 2, size // 2
    padded = F.pad(images, (before, after, before, after), mode="replicate")
    return F.avg_pool2d(padded, size, stride=1)


def resample(images: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Average (N, C, H, W) images down by ``factor`` and scale them back up bilinearly (loses fine detail)."""
    if factor <= 1:
        return images
    height, width = images.shape[-2:]
    small = F.interpolate(images, size=(max(1, height // factor), max(1, width // factor)), mode="area")
    return F.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)


def add_noise(images: torch.Tensor, std: float | torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Add Gaussian noise of standard deviation ``std`` (a number or one per image, shape (N,))."""
    std = torch.as_tensor(std, dtype=images.dtype).reshape(-1, *([1] * (images.dim() - 1)))
    noise = torch.randn(images.shape, generator=generator, dtype=images.dtype)
    return images + std * noise.to(images.device)


@dataclass(frozen=True)
class Augmentation:
    """Per-image probabilities and strengths of the reconstruction-like degradations used in training."""

    blur_prob: float = 0.4
    blur_size: int = 3
    resample_prob: float = 0.3
    resample_factor: int = 2
    noise_prob: float = 0.5
    noise_std: float = 0.05  # each noisy image draws its std uniformly from [0, noise_std]
    value_range: tuple[float, float] | None = PIXEL_RANGE  # clamp after degrading (None: spectra)


def augment(images: torch.Tensor, aug: Augmentation, generator: torch.Generator) -> torch.Tensor:
    """Degrade each of (N, C, H, W) images at random: box blur, then down/up-resampling, then noise."""
    count = images.shape[0]

    def chosen(prob: float) -> torch.Tensor:
        return (torch.rand(count, generator=generator) < prob).reshape(count, 1, 1, 1).to(images.device)

    out = images
    if aug.blur_prob > 0:
        out = torch.where(chosen(aug.blur_prob), box_blur(out, aug.blur_size), out)
    if aug.resample_prob > 0:
        out = torch.where(chosen(aug.resample_prob), resample(out, aug.resample_factor), out)
    if aug.noise_prob > 0 and aug.noise_std > 0:
        std = torch.rand(count, generator=generator) * aug.noise_std * chosen(aug.noise_prob).reshape(count).cpu()
        out = add_noise(out, std, generator)
    return out.clamp(*aug.value_range) if aug.value_range is not None else out


def degrade(images: torch.Tensor, condition: str) -> torch.Tensor:
    """Apply one deterministic evaluation condition to (N, C, H, W) images: clean, blurred (3x3) or resampled (x2)."""
    if condition == "clean":
        return images
    if condition == "blurred":
        return box_blur(images, 3)
    if condition == "resampled":
        return resample(images, 2)
    raise JudgeError(f"unknown evaluation condition {condition!r}; valid: {', '.join(CONDITIONS)}")


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


class SpritesJudge(Judge):
    """Sprites: per-frame attribute heads on conv features, action from a temporal conv pooled over time."""

    name = "sprites"
    input_ndim = 5

    def __init__(
        self, attributes: Sequence[str], num_classes: Sequence[int], actions: int, width: int = 16, feature_dim: int = 128
    ) -> None:
        super().__init__()
        self.input_tail = (3, 64, 64)
        self.attributes = tuple(attributes)
        self.encoder = FrameEncoder(64, 3, feature_dim, width=width)
        self.attribute_heads = nn.ModuleDict({a: nn.Linear(feature_dim, k) for a, k in zip(self.attributes, num_classes)})
        self.temporal = nn.Sequential(nn.Conv1d(feature_dim, feature_dim, 3, padding=1), nn.LeakyReLU(0.2))
        self.action_head = nn.Linear(2 * feature_dim, actions)
        self.heads = {a: k for a, k in zip(self.attributes, num_classes)}
        self.heads |= {f"{a}_sequence": k for a, k in zip(self.attributes, num_classes)}
        self.heads["action"] = actions
        self.levels = {h: "frame" if h in self.attributes else "sequence" for h in self.heads}
        self.loss_heads = (*self.attributes, "action")
        self.static_heads = self.attributes  # DSA Table 1: appearance should survive a new z_1:T ...
        self.motion_heads = ("action",)  # ... and the action a new f

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Map sequences (B, T, 3, 64, 64) to logits: attributes (B, T, K), <attribute>_sequence (B, K), action (B, 9)."""
        features = self.encoder(x)  # (B, T, D)
        out = {a: head(features) for a, head in self.attribute_heads.items()}
        out |= {f"{a}_sequence": out[a].mean(1) for a in self.attributes}
        out["action"] = self.action_head(self.action_input(features))
        return out

    def action_input(self, features: torch.Tensor) -> torch.Tensor:
        """What the action head reads (B, 2D): the temporal conv of frame features (B, T, D), mean and max over time."""
        temporal = self.temporal(features.transpose(1, 2))  # (B, D, T)
        return torch.cat([temporal.mean(-1), temporal.amax(-1)], -1)

    def sequence_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3D) = [frame features averaged over time (appearance), the action head's input (motion)].

        The action head alone was trained to ignore appearance and the time-averaged frame features to ignore
        motion, so a Fréchet distance needs both halves to notice wrong characters as well as wrong movements.
        """
        frame_features = self.encoder(x)  # (B, T, D)
        return torch.cat([frame_features.mean(1), self.action_input(frame_features)], -1)


class DigitFrameJudge(Judge):
    """MNIST digits per 64 x 64 frame: (..., 1, 64, 64) -> digit logits (..., 10).

    Four stages of 3x3 convolution, group norm and LeakyReLU with 2x2 max pooling between them
    (64 -> 8 pixels, receptive field 38 pixels > the 28-pixel digit), then the maximum over the map:
    the digit moves, so the read-out must not depend on where it is. (A networks.FrameEncoder with a
    fully connected read-out reached 89 % on held-out digits with the same training budget, the same
    4x4 stride-2 trunk with a max read-out 95 %.)
    """

    name = "mnist"
    input_tail = (1, 64, 64)
    heads = {"digit": 10}
    levels = {"digit": "frame"}
    loss_heads = ("digit",)
    static_heads = ("digit",)  # the digit is the content of a bouncing-MNIST video; its location moves

    def __init__(self, width: int = 16, feature_dim: int = 128) -> None:
        super().__init__()
        widths = [width, 2 * width, 4 * width, feature_dim]
        layers: list[nn.Module] = []
        for stage, (in_ch, out_ch) in enumerate(zip([1, *widths[:-1]], widths)):
            layers += [nn.MaxPool2d(2)] if stage else []
            layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.GroupNorm(min(8, out_ch), out_ch), nn.LeakyReLU(0.2)]
        self.trunk = nn.Sequential(*layers)
        self.digit_head = nn.Linear(feature_dim, 10)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return {"digit": logits (..., 10)} for frames (..., 1, 64, 64)."""
        features = self.trunk(x.reshape(-1, *self.input_tail)).amax((-2, -1))
        return {"digit": self.digit_head(features).reshape(*x.shape[:-3], 10)}

    def sequence_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 2D): mean and standard deviation over time of the digit head's input per frame of (B, T, 1, 64, 64).

        The per-frame read-out is position-free (a max over the map), so motion shows only as change over time.
        """
        per_frame = self.trunk(x.reshape(-1, *self.input_tail)).amax((-2, -1)).reshape(x.shape[0], x.shape[1], -1)
        return torch.cat([per_frame.mean(1), per_frame.std(1, unbiased=False)], -1)


class SpokenDigitsJudge(Judge):
    """Speaker and digit of a segment (B, T, 129): two temporal convolutions, mean and max over time."""

    name = "spoken_digits"
    input_ndim = 3
    input_tail = (fsdd.N_BINS,)
    image_ndim = 2
    heads = {"speaker": len(fsdd.SPEAKERS), "digit": fsdd.N_DIGITS}
    levels = {"speaker": "sequence", "digit": "sequence"}
    loss_heads = ("speaker", "digit")
    static_heads = ("speaker",)  # DSA §4.2: f carries the speaker ...
    motion_heads = ("digit",)  # ... and z_1:T what is said
    bounded = False  # normalised log spectra are unbounded reals

    def __init__(self, hidden_dim: int = 128, dropout: float = 0.2) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(fsdd.N_BINS, hidden_dim, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv1d(hidden_dim, hidden_dim, 3, padding=1),
            nn.LeakyReLU(0.2),
        )
        self.dropout = nn.Dropout(dropout)
        self.out = nn.ModuleDict({h: nn.Linear(2 * hidden_dim, k) for h, k in self.heads.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return logits {"speaker": (B, 6), "digit": (B, 10)} for segments (B, T, 129)."""
        pooled = self.dropout(self.sequence_features(x))
        return {h: head(pooled) for h, head in self.out.items()}

    def sequence_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 2H): what both heads read, the temporal convolution's mean and max over time (before dropout)."""
        hidden = self.conv(x.transpose(1, 2))  # (B, H, T)
        return torch.cat([hidden.mean(-1), hidden.amax(-1)], -1)


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
COMMON_DEFAULTS: dict[str, Any] = {
    "epochs": 3,
    "max_steps": None,  # cap on optimiser steps (tests use 1-2)
    "batch_size": 32,
    "lr": 2e-3,
    "weight_decay": 0.0,
    "frames_per_sequence": None,  # random frames of each training sequence per step (None: all)
    "blur_prob": 0.4,
    "blur_size": 3,
    "resample_prob": 0.3,
    "resample_factor": 2,
    "noise_prob": 0.5,
    "noise_std": 0.05,
    "conditions": list(CONDITIONS),
    "seed": 0,
    "eval_batch_size": 64,
    "min_accuracy": None,  # refuse the judge (JudgeTooWeak) below this held-out accuracy on check_heads
    "check_conditions": ["clean", "blurred"],
}
UNKEYED = ("eval_batch_size", "min_accuracy", "check_conditions")  # do not change the weights or the report


@dataclass(frozen=True)
class JudgeSpec:
    """What one judge name means: defaults, data keys and loading, network, label of each head."""

    name: str
    defaults: dict[str, Any]
    data_key: Callable[[str, dict[str, Any]], dict[str, Any]]
    load: Callable[[str, dict[str, Any], Any], LabelledData]
    build: Callable[[dict[str, Any]], Judge]
    targets: Callable[[dict[str, Any]], dict[str, tuple[str, int | None]]]  # head -> (label key, column)
    check_heads: Callable[[dict[str, Any]], tuple[str, ...]]
    value_range: tuple[float, float] | None = PIXEL_RANGE


# -- sprites
SPRITE_VARIANTS = {
    "sprites": (sprites_data.DSA, SpritesDataset),
    "sprites_vdsm": (sprites_data.VDSM, SpritesVDSMDataset),
}


def _sprite_variant(settings: dict[str, Any]) -> tuple[sprites_data.SpriteVariant, type]:
    """Return (variant, dataset class) of the ``dataset`` setting."""
    if settings["dataset"] not in SPRITE_VARIANTS:
        raise JudgeError(f"sprites judge: unknown dataset {settings['dataset']!r}; valid: {', '.join(SPRITE_VARIANTS)}")
    return SPRITE_VARIANTS[settings["dataset"]]


def _sprites_key(split: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Return the cache entry and settings of a Sprites split (as data/sprites.py keys it)."""
    variant, _ = _sprite_variant(settings)
    count = settings[f"{split}_characters"]
    return {"entry": f"{variant.name}-{split}", "settings": sprites_data.split_settings(split, count, None, variant)}


def _sprites_load(split: str, settings: dict[str, Any], cache_dir: Any) -> LabelledData:
    """Load a Sprites split (memory-mapped uint8 frames) with attribute, action and character labels."""
    _, dataset_class = _sprite_variant(settings)
    dataset = dataset_class(split, settings["train_characters"], settings["test_characters"], cache_dir=cache_dir)
    labels = {key: dataset.labels[key] for key in ("attributes", "action", "character")}
    return LabelledData(split, dataset.frames, labels, dataset.pixel_scale)


def _sprites_build(settings: dict[str, Any]) -> Judge:
    """Build an untrained Sprites judge."""
    variant, _ = _sprite_variant(settings)
    sizes = settings["width"], settings["feature_dim"]
    return SpritesJudge(variant.attributes, variant.num_classes, variant.n_labels, *sizes)


def _sprites_targets(settings: dict[str, Any]) -> dict[str, tuple[str, int | None]]:
    """Head -> label: attribute columns for frame and sequence attribute heads, and the action."""
    variant, _ = _sprite_variant(settings)
    targets: dict[str, tuple[str, int | None]] = {a: ("attributes", i) for i, a in enumerate(variant.attributes)}
    targets |= {f"{a}_sequence": ("attributes", i) for i, a in enumerate(variant.attributes)}
    return targets | {"action": ("action", None)}


SPRITES = JudgeSpec(
    name="sprites",
    defaults=COMMON_DEFAULTS
    | {
        "dataset": "sprites",
        "train_characters": None,  # size knob: first n characters of each split (None: all 1000 / 296)
        "test_characters": None,
        "width": 16,
        "feature_dim": 128,
        "min_accuracy": SPRITES_MIN_ACCURACY,
    },
    data_key=_sprites_key,
    load=_sprites_load,
    build=_sprites_build,
    targets=_sprites_targets,
    check_heads=lambda settings: _sprite_variant(settings)[0].attributes,
)


# -- MNIST digits on 64 x 64 frames
def _mnist_key(split: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Return the cache entry and settings of a bouncing_mnist split (as data/bouncing_mnist.py keys it)."""
    count = settings[f"{split}_sequences"]
    seq_len, speed, seed = settings["seq_len"], settings["speed"], settings["data_seed"]
    key = moving_mnist.settings("bouncing_mnist", split, count, seq_len, 1, speed, seed)
    return {"entry": f"bouncing_mnist-{split}", "settings": key | {"grid": bouncing_mnist.GRID}}


def _mnist_load(split: str, settings: dict[str, Any], cache_dir: Any) -> LabelledData:
    """Load a bouncing_mnist split: uint8 frames, digit and source image labels."""
    dataset = BouncingMNISTDataset(
        split,
        settings["seq_len"],
        settings["train_sequences"],
        settings["test_sequences"],
        settings["speed"],
        settings["data_seed"],
        cache_dir=cache_dir,
    )
    labels = {key: dataset.labels[key] for key in ("digit", "source_index")}
    return LabelledData(split, dataset.frames, labels, dataset.pixel_scale)


MNIST = JudgeSpec(
    name="mnist",
    defaults=COMMON_DEFAULTS
    | {
        "train_sequences": 10000,  # size knob (bouncing_mnist train / test sequences)
        "test_sequences": 2000,
        "seq_len": 16,
        "speed": 3.6,
        "data_seed": 0,
        "epochs": 12,
        "batch_size": 128,  # sequences per step, one random frame of each
        "frames_per_sequence": 1,
        "width": 16,
        "feature_dim": 128,
    },
    data_key=_mnist_key,
    load=_mnist_load,
    build=lambda settings: DigitFrameJudge(settings["width"], settings["feature_dim"]),
    targets=lambda settings: {"digit": ("digit", None)},
    check_heads=lambda settings: ("digit",),
)


# -- spoken digits
def _speech_key(split: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Return the features' cache entry and settings plus what selects and normalises the split."""
    takes = fsdd.check_takes(settings["takes"])
    features = fsdd.feature_settings(takes, settings["segment_hop"], "pad")
    test_takes = sorted(fsdd.check_takes(settings["test_takes"]))
    split_rule = {"split_by": "take", "test_takes": test_takes, "normalise": True}
    return {"entry": "spoken_digits", "settings": features, "split": split, **split_rule}


def _speech_load(split: str, settings: dict[str, Any], cache_dir: Any) -> LabelledData:
    """Load a split of normalised 200 ms segments with speaker, digit, utterance and take labels."""
    dataset = SpokenDigitsDataset(
        split,
        split_by="take",
        test_takes=settings["test_takes"],
        takes=settings["takes"],
        segment_hop=settings["segment_hop"],
        cache_dir=cache_dir,
    )
    raw = np.asarray(dataset.features[dataset.rows], dtype=np.float32)
    inputs = ((raw - dataset.mean) / dataset.std).astype(np.float32)
    labels = {key: np.asarray(dataset.labels[key]) for key in ("speaker", "digit", "utterance", "take")}
    return LabelledData(split, inputs, labels, None)


SPOKEN_DIGITS = JudgeSpec(
    name="spoken_digits",
    defaults=COMMON_DEFAULTS
    | {
        "takes": None,  # size knob: FSDD takes to use (None: all 50); must match the evaluated data set
        "test_takes": list(fsdd.OFFICIAL_TEST_TAKES),
        "segment_hop": fsdd.SEGMENT_FRAMES,
        "epochs": 30,
        "lr": 1e-3,
        "weight_decay": 1e-4,
        "hidden_dim": 128,
        "dropout": 0.2,
        "blur_prob": 0.3,
        "resample_prob": 0.3,
        "noise_std": 0.3,  # in units of the per-bin standard deviation
        "check_conditions": ["clean"],
    },
    data_key=_speech_key,
    load=_speech_load,
    build=lambda settings: SpokenDigitsJudge(settings["hidden_dim"], settings["dropout"]),
    targets=lambda settings: {"speaker": ("speaker", None), "digit": ("digit", None)},
    check_heads=lambda settings: ("speaker", "digit"),
    value_range=None,
)

JUDGES: dict[str, JudgeSpec] = {spec.name: spec for spec in (SPRITES, MNIST, SPOKEN_DIGITS)}


# ---------------------------------------------------------------- settings
def _plain(value: Any) -> Any:
    """Turn OmegaConf containers (from Hydra) and tuples into plain lists and dicts."""
    if type(value).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(value, resolve=True)
    return list(value) if isinstance(value, tuple) else value


def _build(spec: JudgeSpec, settings: Mapping[str, Any]) -> Judge:
    """Build a spec's untrained judge without touching the caller's global torch RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings["seed"])
        return spec.build(dict(settings))


def _spec(name: str) -> JudgeSpec:
    """Return the spec of a judge name, or raise JudgeError."""
    if name not in JUDGES:
        raise JudgeError(f"unknown judge {name!r}; valid: {', '.join(JUDGES)}")
    return JUDGES[name]


def _check_number(
    name: str, key: str, value: Any, low: float, high: float | None = None, integer: bool = False
) -> None:
    """Raise JudgeError unless value is a number (an int if asked) in [low, high]."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < low or (high is not None and value > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise JudgeError(f"{name} judge: {key} must be {'an int' if integer else 'a number'} {bound}, got {value!r}")


def judge_settings(name: str, **settings: Any) -> dict[str, Any]:
    """Return the judge's defaults updated with ``settings``, checked (unknown keys and bad values are errors)."""
    spec = _spec(name)
    unknown = sorted(set(settings) - set(spec.defaults))
    if unknown:
        valid = ", ".join(sorted(spec.defaults))
        raise JudgeError(f"unknown setting(s) {', '.join(unknown)} for judge {name!r}; valid: {valid}")
    full = {key: _plain(value) for key, value in (spec.defaults | settings).items()}
    for key in ("epochs", "batch_size", "eval_batch_size", "blur_size", "resample_factor"):
        _check_number(name, key, full[key], 1, integer=True)
    for key in ("blur_prob", "resample_prob", "noise_prob"):
        _check_number(name, key, full[key], 0.0, 1.0)
    for key in ("lr", "noise_std", "weight_decay"):
        _check_number(name, key, full[key], 0.0)
    for key in ("max_steps", "frames_per_sequence"):
        if full[key] is not None:
            _check_number(name, key, full[key], 1, integer=True)
    if full["min_accuracy"] is not None:
        _check_number(name, "min_accuracy", full["min_accuracy"], 0.0, 1.0)
    for key in ("conditions", "check_conditions"):
        if not isinstance(full[key], list) or not set(full[key]) <= set(CONDITIONS):
            raise JudgeError(f"{name} judge: {key} must be a list of {', '.join(CONDITIONS)}, got {full[key]!r}")
    if not set(full["check_conditions"]) <= set(full["conditions"]):
        checked, conditions = full["check_conditions"], full["conditions"]
        raise JudgeError(f"{name} judge: check_conditions {checked} must be among conditions {conditions}")
    return full


def architecture_digest(judge: nn.Module) -> str:
    """Return a digest of the judge's class and parameter names and shapes (part of the weights' cache key)."""
    layout = [type(judge).__name__] + [f"{k}:{tuple(v.shape)}" for k, v in judge.state_dict().items()]
    return hashlib.sha256("\n".join(layout).encode()).hexdigest()[:16]


def judge_cache_settings(name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Return what keys a judge's cache entry: keyed settings, architecture, train and test data keys."""
    spec = _spec(name)
    try:
        train_key, test_key = spec.data_key("train", dict(settings)), spec.data_key("test", dict(settings))
    except DataError as err:  # from the data layer: a bad size knob
        raise JudgeError(f"{name} judge: {err}") from err
    return {
        "judge": name,
        "version": JUDGE_VERSION,
        "settings": {k: v for k, v in settings.items() if k not in UNKEYED},
        "architecture": architecture_digest(_build(spec, settings)),
        "train_data": train_key,
        "test_data": test_key,
    }


def build_judge(name: str, **settings: Any) -> Judge:
    """Return an untrained judge of the given name and settings."""
    return _build(_spec(name), judge_settings(name, **settings))


def load_data(name: str, split: str, settings: Mapping[str, Any], cache_dir: Any = None) -> LabelledData:
    """Load one split of a judge's data set (generated into the cache on first use)."""
    return _spec(name).load(split, dict(settings), cache_dir)


# ---------------------------------------------------------------- training and evaluation
def judge_loss(
    outputs: dict[str, torch.Tensor],
    labels: dict[str, torch.Tensor],
    targets: dict[str, tuple[str, int | None]],
    heads: Sequence[str],
) -> torch.Tensor:
    """Sum over heads of the mean cross-entropy; frame-level logits (B, T, K) share the sequence's label."""
    total = torch.zeros(())
    for head in heads:
        logits, target = outputs[head], _target(labels, targets[head])
        total = total + F.cross_entropy(logits.reshape(-1, logits.shape[-1]), _broadcast(target, logits).reshape(-1))
    return total


def _target(labels: dict[str, torch.Tensor], target: tuple[str, int | None]) -> torch.Tensor:
    """Return the (B,) labels of a head."""
    key, column = target
    return labels[key] if column is None else labels[key][:, column]


def _broadcast(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Expand (B,) labels to the leading shape of logits (B, ..., K)."""
    shape = logits.shape[:-1]
    return target.reshape(-1, *([1] * (len(shape) - 1))).expand(shape)


def _learning_rate(base: float, step: int, total: int) -> float:
    """Cosine decay from ``base`` to 0 over ``total`` steps."""
    return base * 0.5 * (1.0 + math.cos(math.pi * step / max(1, total)))


def fit(
    judge: Judge,
    data: LabelledData,
    settings: Mapping[str, Any],
    targets: dict[str, tuple[str, int | None]],
    value_range: tuple[float, float] | None,
) -> dict[str, Any]:
    """Train a judge on the TRAIN split with reconstruction-like augmentation; return steps, seconds, last loss."""
    if data.split != "train":
        raise JudgeError(f"judges train on the train split only, got the {data.split!r} split")
    rng = np.random.default_rng(settings["seed"])
    generator = torch.Generator().manual_seed(settings["seed"])
    aug = Augmentation(
        settings["blur_prob"], settings["blur_size"], settings["resample_prob"], settings["resample_factor"],
        settings["noise_prob"], settings["noise_std"], value_range,
    )  # fmt: skip
    batch = min(settings["batch_size"], len(data))
    per_epoch = max(1, len(data) // batch)
    total = settings["epochs"] * per_epoch
    total = total if settings["max_steps"] is None else min(total, settings["max_steps"])
    frames = settings["frames_per_sequence"]
    optimiser = torch.optim.Adam(judge.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])
    judge.train()
    start, loss_value, order = time.perf_counter(), float("nan"), np.arange(len(data))
    for step in range(total):
        if step % per_epoch == 0:
            order = rng.permutation(len(data))
        rows = np.sort(order[(step % per_epoch) * batch : (step % per_epoch + 1) * batch])
        picked = None
        if frames is not None and frames < data.seq_len:
            picked = np.sort(rng.choice(data.seq_len, frames, replace=False))
        x, labels = data.batch(rows, picked)
        x = augment(judge.as_images(x), aug, generator).reshape(x.shape)
        for group in optimiser.param_groups:
            group["lr"] = _learning_rate(settings["lr"], step, total)
        loss = judge_loss(judge(x), labels, targets, judge.loss_heads)
        if not torch.isfinite(loss):
            raise JudgeError(f"{judge.name} judge: non-finite loss at step {step}; lower lr (now {settings['lr']})")
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        loss_value = loss.item()
        if (step + 1) % max(1, total // 10) == 0:
            seconds = time.perf_counter() - start
            log.info("%s judge: step %d/%d loss %.4f (%.0f s)", judge.name, step + 1, total, loss_value, seconds)
    judge.eval()
    seconds = round(time.perf_counter() - start, 2)
    return {"steps": total, "seconds": seconds, "final_loss": loss_value, "sequences": len(data)}


@torch.no_grad()
def evaluate(
    judge: Judge,
    data: LabelledData,
    targets: dict[str, tuple[str, int | None]],
    conditions: Sequence[str] = CONDITIONS,
    batch_size: int = 64,
) -> dict[str, dict[str, float]]:
    """Return accuracy per condition and head on a split; frame-level heads count every frame."""
    judge.eval()
    correct = {c: {h: 0 for h in targets} for c in conditions}
    counted = {h: 0 for h in targets}
    for start in range(0, len(data), batch_size):
        x, labels = data.batch(np.arange(start, min(start + batch_size, len(data))))
        for condition in conditions:
            outputs = judge(judge.degraded(x, condition))
            for head, target in targets.items():
                hits = outputs[head].argmax(-1) == _broadcast(_target(labels, target), outputs[head])
                correct[condition][head] += int(hits.sum())
                counted[head] += hits.numel() if condition == conditions[0] else 0
    return {c: {h: correct[c][h] / max(1, counted[h]) for h in targets} for c in conditions}


def train_and_report(
    name: str, settings: Mapping[str, Any], key: Mapping[str, Any], cache_dir: Any
) -> tuple[Judge, dict[str, Any]]:
    """Train a judge on the train split and measure it on the held-out test split; return (judge, report)."""
    spec = _spec(name)
    targets = spec.targets(dict(settings))
    train = spec.load("train", dict(settings), cache_dir)
    judge = _build(spec, settings)
    with torch.random.fork_rng(devices=[]):  # dropout draws from the global RNG: seeded, caller's state kept
        torch.manual_seed(settings["seed"])
        training = fit(judge, train, settings, targets, spec.value_range)
    del train
    test = spec.load("test", dict(settings), cache_dir)
    started = time.perf_counter()
    accuracy = evaluate(judge, test, targets, settings["conditions"], settings["eval_batch_size"])
    report = {
        "judge": name,
        "settings": {k: v for k, v in settings.items() if k not in UNKEYED},
        "train_data": key["train_data"],
        "test_data": key["test_data"],
        "parameters": sum(p.numel() for p in judge.parameters()),
        "training": training,
        "test": {"sequences": len(test), "seconds": round(time.perf_counter() - started, 2), **accuracy},
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    log.info("%s judge: trained in %.0f s; held-out accuracy %s", name, training["seconds"], accuracy)
    return judge, report


def check_strength(name: str, report: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
    """Raise JudgeTooWeak when a checked head is under ``min_accuracy`` on a checked held-out condition."""
    threshold = settings["min_accuracy"]
    if threshold is None:
        return
    heads = _spec(name).check_heads(dict(settings))
    scores = {(c, h): report["test"][c][h] for c in settings["check_conditions"] for h in heads}
    (condition, head), worst = min(scores.items(), key=lambda item: item[1])
    if worst < threshold:
        why = " a judge under 97 % on Sprites attributes is not good enough to judge anything;" if name == "sprites" else ""
        raise JudgeTooWeak(
            f"{name} judge: held-out {head} accuracy {worst:.3f} on {condition} data < min_accuracy {threshold:.3f};{why}"
            f" train longer (epochs, now {settings['epochs']}) or on more data"
        )


# ---------------------------------------------------------------- the cache
def _to_arrays(judge: Judge, report: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Weights as ``weights.<name>`` arrays plus the report as UTF-8 JSON bytes, for data/cache.py."""
    arrays = {f"weights.{k}": v.detach().cpu().numpy().copy() for k, v in judge.state_dict().items()}
    arrays["report"] = np.frombuffer(json.dumps(report, sort_keys=True).encode(), dtype=np.uint8).copy()
    return arrays


def _from_arrays(judge: Judge, arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Load cached weights into ``judge`` (eval mode, frozen) and return the cached report."""
    prefix = "weights."
    state = {k[len(prefix) :]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith(prefix)}
    judge.load_state_dict(state)
    judge.eval().requires_grad_(False)
    return json.loads(bytes(np.asarray(arrays["report"])).decode())


def load_or_train_judge(
    name: str, cache_dir: str | os.PathLike[str] | None = None, **settings: Any
) -> tuple[Judge, dict[str, Any]]:
    """Return (judge, report): cached weights for (settings, data keys), else trained on the train split first.

    The report holds the settings, the train/test data keys, training steps and seconds, and held-out
    accuracy per condition (clean, blurred, resampled) and head. Raises JudgeTooWeak (after caching)
    when a checked head is below ``min_accuracy`` (Sprites: 0.97 on every attribute, clean and blurred).
    """
    full = judge_settings(name, **settings)
    key = judge_cache_settings(name, full)
    trained: list[bool] = []

    def build() -> dict[str, np.ndarray]:
        judge, report = train_and_report(name, full, key, cache_dir)
        trained.append(True)
        return _to_arrays(judge, report)

    arrays = load_or_build(f"judge_{name}", key, build, cache_dir)
    judge = _build(_spec(name), full)
    report = _from_arrays(judge, arrays)
    report["from_cache"] = not trained
    report["cache_entry"] = str(entry_dir(f"judge_{name}", key, cache_dir))
    check_strength(name, report, full)
    return judge, report


# ---------------------------------------------------------------- command line
def main(argv: Sequence[str]) -> int:
    """``python -m evaluation.judges <name> [key=value ...]``: train or load a judge and print its report."""
    import yaml

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not argv or argv[0] not in JUDGES:
        print(f"usage: python -m evaluation.judges {{{','.join(JUDGES)}}} [key=value ...]", file=sys.stderr)
        return 2
    overrides = dict(arg.split("=", 1) for arg in argv[1:])
    settings = {key: yaml.safe_load(value) for key, value in overrides.items()}
    cache_dir = settings.pop("cache_dir", None)
    try:
        _, report = load_or_train_judge(argv[0], cache_dir, **settings)
    except (JudgeError, JudgeTooWeak) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
