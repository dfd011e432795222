"""The Sprites sheet-pose judge: the four attributes of any of the 178 poses of an LPC sheet (Helminger et al. 2018).

Helminger's Sprites items are a character's whole sheet as an unordered set of poses (conf/data/sprites_helminger).
The DSA judge (``sprites``) learnt its attributes from the 72 cells of the nine DSA actions only; on the other sheet
poses (shooting, thrusting, hurt, ...) it is 77-98 % right (RESULTS.md), too weak to judge swaps there. This judge
is the same network without the action head, trained on every pose of the training characters' sheets.
"""
from __future__ import annotations

from typing import Any, Mapping

from data import sprites as sprites_data
from data.sprites import SpritesHelmingerDataset
from evaluation.judges.base import Judge, JudgeSpec, LabelledData
from evaluation.judges.sprites import SpritesJudge, attribute_targets, split_key

VARIANT = sprites_data.HELMINGER


class SpritesSheetJudge(SpritesJudge):
    """Per-pose attribute heads (B, T, 6) and their time-averaged ``<attribute>_sequence`` heads; no action head."""

    name = "sprites_sheet"

    def __init__(self, width: int = 16, feature_dim: int = 128) -> None:
        super().__init__(VARIANT.attributes, VARIANT.num_classes, 0, width, feature_dim)


def _sheet_fit(data: Mapping[str, Any]) -> dict[str, Any] | str:
    """Sets of sheet poses are what this judge reads; other Sprites variants have the DSA judge."""
    if data.get("name") != VARIANT.name:
        return f"the sprites_sheet judge reads {VARIANT.name} (sets of sheet poses), not {data.get('name')!r}"
    return {}


def _sheet_load(split: str, settings: dict[str, Any], cache_dir: Any) -> LabelledData:
    """Load a split of whole sheets (memory-mapped uint8, (N, 178, 64, 64, 3)) with attribute and character labels."""
    dataset = SpritesHelmingerDataset(split, settings["train_characters"], settings["test_characters"], cache_dir=cache_dir)
    labels = {key: dataset.labels[key] for key in ("attributes", "character")}
    return LabelledData(split, dataset.frames, labels, dataset.pixel_scale)


def _sheet_build(settings: dict[str, Any]) -> Judge:
    """Build an untrained sheet judge."""
    return SpritesSheetJudge(settings["width"], settings["feature_dim"])


SPEC = JudgeSpec(
    name="sprites_sheet",
    data_key=lambda split, settings: split_key(VARIANT, split, settings),
    load=_sheet_load,
    build=_sheet_build,
    targets=lambda settings: attribute_targets(VARIANT),  # per pose and per set; no action
    check_heads=lambda settings: VARIANT.attributes,
    fit=_sheet_fit,
)
