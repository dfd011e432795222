"""The metric plug-in: one object per paper metric, saying what it needs, how it is computed, how the report shows
it and which published numbers stand beside it. A new metric is one file in evaluation/plugins/ (ARCHITECTURE.md)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from omegaconf import DictConfig

from evaluation.facts import DataFacts
from inference.anneal import SiteGroups


@dataclass(frozen=True)
class MetricOptions:
    """Sizes of the metrics that do not score the test sequences one by one (evaluate.py's options of the same names)."""

    batch_size: int = 64
    generated_sequences: int = 512
    fvd_sequences: int = 2000
    fvd_extractor: str | None = None


@dataclass(frozen=True)
class Context:
    """Everything a metric may read about one trained run: its config, its data set's facts, model, guide, test data."""

    cfg: DictConfig  # the run's training config
    facts: DataFacts
    model: Any
    guide: Any
    groups: SiteGroups
    dataset: Any  # the test split
    count: int  # score the first ``count`` test sequences
    options: MetricOptions
    device: Any
    judge: Any = None  # the data set's trained judge, or None


class Metric(ABC):
    """A paper metric: ``applies`` (None, or why not for this run), ``compute``, its report ``section`` and ``published`` numbers."""

    name: ClassVar[str] = ""  # key of its result in metrics.json, and its name in trainer.eval_metrics
    needs_judge: ClassVar[bool] = False  # computed only when the data set's judge is loaded
    tracked: ClassVar[bool] = True  # among what trainer.eval_every tracks by default (prior-sample scores are not)
    order: ClassVar[int] = 50  # position of its section in report.md

    def applies(self, ctx: Context) -> str | None:
        """None when this metric applies to the run, else the reason it does not (the metric is then left out)."""
        return None

    @abstractmethod
    def compute(self, ctx: Context) -> dict:
        """The metric's result (nested dicts of floats); raise protocols.NotApplicable when the model cannot take it."""

    def section(self, metrics: dict, paper: dict[str, float]) -> list[str]:
        """Markdown lines for report.md when ``metrics`` holds this metric's result; ``paper`` holds every published number."""
        return []

    def published(self, metrics: dict) -> dict[str, float]:
        """The paper's number for every flattened key of this metric that a paper reports for this run's model, data and setting."""
        return {}
