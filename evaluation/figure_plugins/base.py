"""The figure plug-in: one object per paper figure, saying when it applies and drawing it (with any number it checks
about itself) into a run's eval/ directory. A new figure is one file in evaluation/figure_plugins/ (ARCHITECTURE.md)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from evaluation.facts import DataFacts
from inference.anneal import SiteGroups


@dataclass(frozen=True)
class FigureContext:
    """What a figure may read about one evaluated run: its model and guide, test data, judge and metrics so far."""

    run_dir: Path
    out: Path  # where the files go (<run>/eval)
    model: Any
    guide: Any
    groups: SiteGroups
    dataset: Any  # the test split
    preview: torch.Tensor | None  # the first test sequences on the model's device, or None when frames are not images
    facts: DataFacts
    judge: Any = None
    metrics: dict = field(default_factory=dict)  # the run's metric results (evaluation/plugins/)


@dataclass
class Drawn:
    """A figure's files ({file name: caption}) and the numbers it measured about itself (empty when it measures none)."""

    files: dict[str, str]
    checks: dict = field(default_factory=dict)


class Figure(ABC):
    """A paper figure: ``applies`` (None, or why not for this run) and ``draw``."""

    name: ClassVar[str] = ""  # its key in metrics.json's ``figure_checks`` and in the report's list of figures not drawn
    needs_images: ClassVar[bool] = True  # drawn only when the frames are images
    needs_judge: ClassVar[bool] = False  # drawn only when the data set's judge is loaded
    needs_static_and_motion: ClassVar[bool] = False  # drawn only for models with a static and a motion latent group
    order: ClassVar[int] = 50  # position in report.md's figure section

    def applies(self, ctx: FigureContext) -> str | None:
        """None when this figure applies to the run, else the reason it is not drawn (said in the report)."""
        return None

    @abstractmethod
    def draw(self, ctx: FigureContext) -> Drawn:
        """Write the figure's files into ``ctx.out`` and return their captions (and any numbers it checks)."""
