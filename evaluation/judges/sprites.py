"""The Sprites judge: attribute heads per frame and an action head over time, and how it reads Sprites data."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from data import sprites as sprites_data
from data.sprites import SpritesDataset, SpritesVDSMDataset
from networks.frames import FrameEncoder
from evaluation.judges.base import Judge, JudgeSpec, LabelledData
from evaluation.judges.common import JudgeError



class SpritesJudge(Judge):
    """Sprites: per-frame attribute heads on conv features, action from a temporal conv pooled over time."""

    name = "sprites"
    input_ndim = 5

    def __init__(
        self, attributes: Sequence[str], num_classes: Sequence[int], actions: int, width: int = 16, feature_dim: int = 128
    ) -> None:
        """``actions=0`` builds the attribute heads only (sets of sheet poses have no action)."""
        super().__init__()
        self.input_tail = (3, 64, 64)
        self.attributes = tuple(attributes)
        self.encoder = FrameEncoder(64, 3, feature_dim, width=width)
        self.attribute_heads = nn.ModuleDict({a: nn.Linear(feature_dim, k) for a, k in zip(self.attributes, num_classes)})
        self.heads = {a: k for a, k in zip(self.attributes, num_classes)}
        self.heads |= {f"{a}_sequence": k for a, k in zip(self.attributes, num_classes)}
        self.static_heads = self.attributes  # DSA Table 1: appearance should survive a new z_1:T ...
        self.motion_heads = ("action",) if actions else ()  # ... and the action a new f
        if actions:
            self.temporal = nn.Sequential(nn.Conv1d(feature_dim, feature_dim, 3, padding=1), nn.LeakyReLU(0.2))
            self.action_head = nn.Linear(2 * feature_dim, actions)
            self.heads["action"] = actions
        self.levels = {h: "frame" if h in self.attributes else "sequence" for h in self.heads}
        self.loss_heads = (*self.attributes, *self.motion_heads)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Map sequences (B, T, 3, 64, 64) to logits: attributes (B, T, K), <attribute>_sequence (B, K), action (B, 9)."""
        features = self.encoder(x)  # (B, T, D)
        out = {a: head(features) for a, head in self.attribute_heads.items()}
        out |= {f"{a}_sequence": out[a].mean(1) for a in self.attributes}
        if self.motion_heads:
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
        if not self.motion_heads:  # no motion read-out: appearance only
            return frame_features.mean(1)
        return torch.cat([frame_features.mean(1), self.action_input(frame_features)], -1)


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


def _sprites_fit(data: Mapping[str, Any]) -> dict[str, Any] | str:
    """The judge of a Sprites data config (trained on that variant), or why a data set is not one it reads."""
    if data.get("name") not in SPRITE_VARIANTS:
        return f"the sprites judge reads the variants {', '.join(SPRITE_VARIANTS)}, not {data.get('name')!r}"
    return {"dataset": data["name"]}


def _sprites_key(split: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Return the cache entry and settings of a Sprites split (as data/sprites.py keys it)."""
    return split_key(_sprite_variant(settings)[0], split, settings)


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


def attribute_targets(variant: sprites_data.SpriteVariant) -> dict[str, tuple[str, int | None]]:
    """Head -> label of the attribute heads: each attribute's column, per frame and per sequence."""
    targets: dict[str, tuple[str, int | None]] = {a: ("attributes", i) for i, a in enumerate(variant.attributes)}
    return targets | {f"{a}_sequence": ("attributes", i) for i, a in enumerate(variant.attributes)}


def split_key(variant: sprites_data.SpriteVariant, split: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Return the cache entry and settings of a split of a Sprites variant (as data/sprites.py keys it)."""
    count = settings[f"{split}_characters"]
    return {"entry": f"{variant.name}-{split}", "settings": sprites_data.split_settings(split, count, None, variant)}


def _sprites_targets(settings: dict[str, Any]) -> dict[str, tuple[str, int | None]]:
    """Head -> label: attribute columns for frame and sequence attribute heads, and the action."""
    return attribute_targets(_sprite_variant(settings)[0]) | {"action": ("action", None)}


SPEC = JudgeSpec(
    name="sprites",
    data_key=_sprites_key,
    load=_sprites_load,
    build=_sprites_build,
    targets=_sprites_targets,
    check_heads=lambda settings: _sprite_variant(settings)[0].attributes,
    fit=_sprites_fit,
)


# -- MNIST digits on 64 x 64 frames
