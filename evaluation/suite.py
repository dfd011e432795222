"""Which of the metric plug-ins (evaluation/plugins/) apply to a trained run, with which judge: shared by `evaluate.py`
and the trainer's `eval_every` (judged metrics tracked while training). No data-set name appears here: the data
config declares its judge and facts (evaluation/facts.py)."""
from __future__ import annotations

import logging
import zlib
from typing import Collection

import pyro
from omegaconf import DictConfig

from evaluation.facts import data_facts
from evaluation.judges import JUDGES, load_or_train_judge
from evaluation.plugins import JUDGED, METRICS, TRACKED, Context, MetricOptions
from evaluation.protocols import NotApplicable
from inference.anneal import SiteGroups
from inference.errors import ConfigError

log = logging.getLogger(__name__)
EVAL_FRAMES = 2048  # at most this many frames decoded and judged per evaluation batch (memory: decoder and judge activations)


def judge_for(data: DictConfig) -> tuple[str, dict] | str:
    """The judge the data config declares (``evaluation.judge``) and the settings that make it match the data, or why none applies."""
    name = data_facts(data).judge
    if name is None:
        return f"no judge is declared for {data.get('name')} sequences (its data config's evaluation.judge)"
    if name not in JUDGES:
        raise ConfigError(f"data '{data.get('name')}': evaluation.judge {name!r} is not a judge; valid: {', '.join(JUDGES)}")
    fitted = JUDGES[name].fit(data)
    return fitted if isinstance(fitted, str) else (name, fitted)


def load_judge(train_cfg: DictConfig, overrides: dict | None, device) -> tuple | None:
    """The trained (cached) judge for this run's data set and its description, or None (no judge applies)."""
    found = judge_for(train_cfg.data)
    if isinstance(found, str):
        log.info("judged metrics skipped: %s", found)
        return None
    name, settings = found
    judge, judge_report = load_or_train_judge(name, cache_dir=train_cfg.get("cache_dir"), **{**settings, **(overrides or {})})
    accuracy = {c: judge_report["test"][c] for c in ("clean", "blurred") if c in judge_report.get("test", {})}
    return judge.to(device), {"name": name, "held_out_accuracy": accuracy, "cache_entry": judge_report.get("cache_entry")}


def batch_for(dataset, requested: int) -> int:
    """Sequences per evaluation batch: ``requested``, fewer for long sequences (Helminger's 178-pose sheets), so that
    at most EVAL_FRAMES frames are decoded and judged at once."""
    return max(1, min(requested, EVAL_FRAMES // max(1, getattr(dataset, "seq_len", 1))))


def metric_seed(name: str) -> int:
    """Each metric draws from its own seeded stream, so its number does not depend on which other metrics ran before it."""
    return zlib.crc32(name.encode())


def paper_metrics(train_cfg: DictConfig, model, guide, groups: SiteGroups, dataset, count: int, options: MetricOptions, device, judge,
                  only: Collection[str] | None = None) -> dict:
    """Every metric plug-in (evaluation/plugins/) that applies to this run (judged ones only with a judge), or the ``only``
    ones of them; a metric that the model cannot take is listed under ``not_applicable`` with the reason."""
    ctx = Context(train_cfg, data_facts(train_cfg.data), model, guide, groups, dataset, count, options, device, judge)
    found: dict = {}
    for name, metric in METRICS.items():
        if (only is not None and name not in only) or (metric.needs_judge and judge is None):
            continue
        if (reason := metric.applies(ctx)) is not None:
            log.debug("%s does not apply: %s", name, reason)
            continue
        pyro.set_rng_seed(metric_seed(name))
        try:
            found[name] = metric.compute(ctx)
        except NotApplicable as err:
            log.warning("%s not computed: %s", name, err)
            found.setdefault("not_applicable", {})[name] = str(err)
    return found


def flatten(metrics: dict, prefix: str = "") -> dict:
    """Nested metric dicts as one level with dotted keys (for sweep tables and training logs)."""
    flat = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class TrainingEvaluator:
    """The papers' judged metrics of a model while it trains (``trainer.eval_every``): on the first ``sequences`` test
    sequences, flattened to ``eval.<metric>...`` scalars for metrics.csv and TensorBoard."""

    def __init__(self, train_cfg: DictConfig, test_set, device, sequences: int = 256, metrics: Collection[str] | None = None,
                 judge_overrides: dict | None = None) -> None:
        if sequences < 4:
            raise ValueError(f"trainer.eval_sequences must be >= 4, got {sequences}")
        unknown = set(metrics or ()) - set(METRICS)
        if unknown:
            raise ValueError(f"unknown trainer.eval_metrics {sorted(unknown)}; valid: {', '.join(METRICS)}")
        self.train_cfg, self.test_set, self.device = train_cfg, test_set, device
        self.count = min(sequences, len(test_set))
        self.batch_size = batch_for(test_set, 64)
        self.metrics = tuple(metrics) if metrics else TRACKED
        judge = load_judge(train_cfg, judge_overrides, device) if set(self.metrics) & set(JUDGED) else None  # no judge trained for nothing
        self.judge = judge[0] if judge is not None else None

    def __call__(self, model, guide) -> dict[str, float]:
        """Scalars of every tracked metric that applies (fractions, scores, EERs); labels and counts left out."""
        options = MetricOptions(batch_size=self.batch_size, generated_sequences=self.count, fvd_sequences=self.count)
        found = paper_metrics(self.train_cfg, model, guide, SiteGroups.of(model), self.test_set, self.count, options,
                              self.device, self.judge, only=self.metrics)
        found.pop("not_applicable", None)
        return {f"eval.{key}": float(value) for key, value in flatten(found).items()
                if isinstance(value, float) and not key.endswith(("sequences", "classes", "dim", "trials", "utterances", "segments"))}
