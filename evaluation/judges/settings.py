"""A judge name's settings (defaults, checks, cache key), its untrained network and its data."""
from __future__ import annotations

import copy
import functools
import hashlib
import importlib
import pkgutil
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from data.errors import DataError
from evaluation.judges.base import UNKEYED, Judge, JudgeSpec, LabelledData
from evaluation.judges.common import CONDITIONS, JUDGE_VERSION, JudgeError



JUDGE_CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "judge"  # conf/judge/<name>.yaml: each judge's defaults
HYDRA_KEYS = ("_target_", "_convert_", "name", "cache_dir")  # keys of a judge config that are not settings


SHARED_MODULES = {"__main__", "augmentation", "base", "cache", "common", "settings", "training"}  # not judges


def _discover() -> dict[str, JudgeSpec]:
    """Every other module of this package that defines a ``SPEC`` is a judge: adding one is a module plus its conf file."""
    specs = {}
    for module in sorted(info.name for info in pkgutil.iter_modules([str(Path(__file__).parent)])):
        if module in SHARED_MODULES:
            continue
        spec = getattr(importlib.import_module(f"evaluation.judges.{module}"), "SPEC", None)
        if isinstance(spec, JudgeSpec):
            specs[spec.name] = spec
    return specs


JUDGES: dict[str, JudgeSpec] = _discover()


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


@functools.cache
def _defaults_of(name: str) -> dict[str, Any]:
    """Read conf/judge/<name>.yaml once: the one source of a judge's defaults (Hydra's keys left out)."""
    from omegaconf import OmegaConf

    path = JUDGE_CONF_DIR / f"{name}.yaml"
    if not path.is_file():
        raise JudgeError(f"judge {name!r} has no config {path}")
    config = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    return {key: value for key, value in config.items() if key not in HYDRA_KEYS}


def judge_defaults(name: str) -> dict[str, Any]:
    """A judge's default settings, as conf/judge/<name>.yaml gives them (a fresh copy)."""
    _spec(name)
    return copy.deepcopy(_defaults_of(name))


def judge_settings(name: str, **settings: Any) -> dict[str, Any]:
    """Return the judge's defaults updated with ``settings``, checked (unknown keys and bad values are errors)."""
    defaults = judge_defaults(name)
    unknown = sorted(set(settings) - set(defaults))
    if unknown:
        valid = ", ".join(sorted(defaults))
        raise JudgeError(f"unknown setting(s) {', '.join(unknown)} for judge {name!r}; valid: {valid}")
    full = {key: _plain(value) for key, value in (defaults | settings).items()}
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


