"""Training a judge with augmentation, evaluating it on held-out conditions, refusing a weak one."""
from __future__ import annotations

import logging
import math
import time
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from evaluation.judges.augmentation import Augmentation, augment
from evaluation.judges.base import UNKEYED, Judge, LabelledData
from evaluation.judges.common import CONDITIONS, JudgeError, JudgeTooWeak
from evaluation.judges.settings import _build, _spec

log = logging.getLogger(__name__)


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


