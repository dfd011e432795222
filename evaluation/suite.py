"""Which of the papers' metrics apply to a trained run, with which judge: shared by `evaluate.py` and the trainer's
`eval_every` (judged metrics tracked while training)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Collection

from omegaconf import DictConfig

from evaluation.imputation import imputation_curve
from evaluation.judges import load_or_train_judge
from evaluation.protocols import (
    NotApplicable, accuracy_consistency, dsa_table1, embedding_accuracy, fixed_motion_scores, fvd_judge, generation_scores, gw_disentanglement,
    reconstruction_consistency,
    swap_consistency,
)
from evaluation.speech import dsa_table2
from inference.anneal import SiteGroups

SEQUENCE_FACTOR_DATA = ("sprites", "sprites_vdsm")  # labelled per-sequence factors for VDSM Table 1's embedding accuracy
BINARY_VIDEO_DATA = ("bouncing_ball", "bouncing_square")  # DSA §4.3 imputation (Fig. 8)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricOptions:
    """Sizes of the metrics that do not score the test sequences one by one (evaluate.py's options of the same names)."""

    batch_size: int = 64
    generated_sequences: int = 512
    fvd_sequences: int = 2000
    fvd_extractor: str | None = None


def judge_for(data: DictConfig) -> tuple[str, dict] | str:
    """The judge (evaluation/judges/) that fits this data set and the settings that make it match, or why none does."""
    if data.name in ("sprites", "sprites_vdsm"):
        return "sprites", {"dataset": data.name}
    if data.name == "bouncing_mnist" or (data.name == "moving_mnist" and data.get("num_digits") == 1):
        return "mnist", {}  # single-digit 64 x 64 frames, whatever the motion settings
    if data.name == "spoken_digits":
        if data.get("split_by") != "take" or not data.get("normalise", True) or data.get("short_utterances") != "pad":
            return "the spoken-digits judge reads the take split's normalised, padded segments (split_by=take, normalise, pad)"
        return "spoken_digits", {"takes": data.takes, "test_takes": data.test_takes, "segment_hop": data.segment_hop}
    return f"no judge classifies {data.name} sequences"


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


def paper_metrics(train_cfg: DictConfig, model, guide, groups: SiteGroups, dataset, count: int, options: MetricOptions, device, judge,
                  only: Collection[str] | None = None) -> dict:
    """The metrics the papers report for this run's data set (judged ones only with a judge), or the ``only`` ones of
    them; a metric that does not apply to this model is listed under ``not_applicable`` with the reason."""
    data = train_cfg.data.name
    batch = options.batch_size
    planned: dict[str, Callable[[], dict]] = {}
    if judge is not None:
        planned["dsa_table1"] = lambda: dsa_table1(model, guide, groups, dataset, judge, count, batch)
        planned["consistency"] = lambda: accuracy_consistency(model, guide, groups, dataset, judge, count, batch)
        planned["reconstruction_consistency"] = lambda: reconstruction_consistency(model, guide, dataset, judge, count, batch)
        planned["swap_consistency"] = lambda: swap_consistency(model, guide, groups, dataset, judge, count, batch)
        planned["fixed_motion"] = lambda: fixed_motion_scores(model, guide, groups, dataset, judge, count, batch)
        planned["generation"] = lambda: generation_scores(model, judge, options.generated_sequences, dataset.seq_len, batch)
        planned["fvd"] = lambda: fvd_judge(model, judge, dataset, min(options.fvd_sequences, len(dataset)), batch, extractor=options.fvd_extractor)
    if data in SEQUENCE_FACTOR_DATA:
        planned["embedding_accuracy"] = lambda: embedding_accuracy(guide, groups, dataset, count, batch, device)
    if data == "bouncing_mnist":
        planned["gw_disentanglement"] = lambda: gw_disentanglement(guide, groups, dataset, count, "digit", "location", batch, device)
    if data == "spoken_digits":
        planned["dsa_table2"] = lambda: dsa_table2(guide, groups, dataset, batch, device)
    if data in BINARY_VIDEO_DATA:
        planned["imputation"] = lambda: imputation_curve(model, guide, groups, dataset, count, batch, device)
    found: dict = {}
    for name, compute in planned.items():
        if only is not None and name not in only:
            continue
        try:
            found[name] = compute()
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


JUDGED = ("dsa_table1", "consistency", "reconstruction_consistency", "swap_consistency", "fixed_motion", "generation", "fvd")  # need a judge
TRACKED = ("dsa_table1", "consistency", "reconstruction_consistency", "swap_consistency", "fixed_motion", "embedding_accuracy", "gw_disentanglement",
           "dsa_table2", "imputation")  # what eval_every tracks by default: everything but the prior-sample scores


class TrainingEvaluator:
    """The papers' judged metrics of a model while it trains (``trainer.eval_every``): on the first ``sequences`` test
    sequences, flattened to ``eval.<metric>...`` scalars for metrics.csv and TensorBoard."""

    def __init__(self, train_cfg: DictConfig, test_set, device, sequences: int = 256, metrics: Collection[str] | None = None,
                 judge_overrides: dict | None = None) -> None:
        if sequences < 4:
            raise ValueError(f"trainer.eval_sequences must be >= 4, got {sequences}")
        unknown = set(metrics or ()) - set(TRACKED) - {"generation", "fvd"}
        if unknown:
            raise ValueError(f"unknown trainer.eval_metrics {sorted(unknown)}; valid: {', '.join((*TRACKED, 'generation', 'fvd'))}")
        self.train_cfg, self.test_set, self.device = train_cfg, test_set, device
        self.count = min(sequences, len(test_set))
        self.metrics = tuple(metrics) if metrics else TRACKED
        judge = load_judge(train_cfg, judge_overrides, device) if set(self.metrics) & set(JUDGED) else None  # no judge trained for nothing
        self.judge = judge[0] if judge is not None else None

    def __call__(self, model, guide) -> dict[str, float]:
        """Scalars of every tracked metric that applies (fractions, scores, EERs); labels and counts left out."""
        options = MetricOptions(batch_size=64, generated_sequences=self.count, fvd_sequences=self.count)
        found = paper_metrics(self.train_cfg, model, guide, SiteGroups(model.latent_groups), self.test_set, self.count, options,
                              self.device, self.judge, only=self.metrics)
        found.pop("not_applicable", None)
        return {f"eval.{key}": float(value) for key, value in flatten(found).items()
                if isinstance(value, float) and not key.endswith(("sequences", "classes", "dim", "trials", "utterances", "segments"))}
