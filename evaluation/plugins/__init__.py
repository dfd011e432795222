"""Registry of the paper metrics: every ``Metric`` subclass with a ``name`` in this package's modules, in report order.

A new metric is a new file here (a ``Metric`` subclass: ``applies``, ``compute``, ``section``, ``published``) plus its
test; evaluate.py, the report, the sweep table and ``trainer.eval_every`` pick it up by name.
"""
from __future__ import annotations

from evaluation.plugins.base import Context, Metric, MetricOptions
from inference.registry import discover, named, unique_by


def _is_metric(cls: type) -> bool:
    """A metric plug-in: a concrete ``Metric`` subclass with a registry ``name``."""
    return issubclass(cls, Metric) and named(cls)


METRICS: dict[str, Metric] = {
    cls.name: cls() for cls in sorted(unique_by(discover(__name__, _is_metric), lambda cls: [cls.name], "metrics"), key=lambda cls: cls.order)
}
JUDGED = tuple(name for name, metric in METRICS.items() if metric.needs_judge)  # computed only with a judge
TRACKED = tuple(name for name, metric in METRICS.items() if metric.tracked)  # what eval_every tracks by default


def published(metrics: dict) -> dict[str, float]:
    """The paper's number for every flattened metric key (as in the sweep table) of this run that a paper reports."""
    found: dict[str, float] = {}
    for name, metric in METRICS.items():
        if name in metrics:
            found |= metric.published(metrics)
    return found


__all__ = ["Context", "JUDGED", "METRICS", "Metric", "MetricOptions", "TRACKED", "published"]
