"""Turning a composed Hydra config into data, a model, a guide and a trainer, with start-up checks."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pyro
import pyro.poutine as poutine
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate as hydra_instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.utils.data import Dataset, default_collate

from data import DataError
from data.identity_frames import pooled_by_identity
from data.random_frames import frames_seen_by
from evaluation.facts import data_facts
from guides import valid_guides
from inference.anneal import Annealer, SiteGroups, objective_groups
from inference.batch import batch_keys, check_batch_keys, collate, keyword_args, on_device, taken_keys
from inference.distributed import Cluster
from inference.errors import ConfigError
from inference.latents import latent_sites, site_kls
from inference.layout import check_layouts, layout_problem
from inference.objective import TermError, term_values
from inference.optim import ScaledLearningRates, check_lr_scale
from inference.checkpoint import load_checkpoint, run_config
from inference.trainer import CHECKPOINT_NAME, Trainer
from models import MODELS
from networks import frame_kind


def instantiate(node: DictConfig, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` that surfaces the user's mistake, not Hydra's wrapper around it."""
    try:
        return hydra_instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, (ConfigError, DataError, OSError)):  # OSError: a full disk or an unwritable folder
            raise cause from None
        if isinstance(cause, (ValueError, TypeError)):  # bad sizes or unknown keyword in a config file
            target = node.get("_target_", "?") if isinstance(node, DictConfig) else "?"
            raise ConfigError(f"cannot build {target}: {cause}") from None
        raise


def select_device(name: str) -> torch.device:
    """The torch device named in the config; a clear error when CUDA is asked for but absent."""
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"unknown device '{name}' (use cpu, cuda or cuda:N)") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda was requested but no CUDA device is available; use device=cpu")
    return device


def build_data(cfg: DictConfig, split: str) -> Dataset:
    """The ``split`` of the data set chosen by ``cfg.data``."""
    return instantiate(cfg.data, split=split)


def build_model_and_guide(cfg: DictConfig, dataset: Dataset) -> tuple[nn.Module, nn.Module]:
    """Model sized for the data set, and the guide chosen by ``cfg.guide`` for that model."""
    try:
        kind = frame_kind(tuple(dataset.frame_shape))
    except ValueError as err:
        raise ConfigError(f"data '{cfg.data.name}': {err}") from None
    model_cls = _model_class(cfg.model)
    if kind not in _frame_kinds(model_cls):
        able = ", ".join(sorted(name for name, cls in MODELS.items() if kind in _frame_kinds(cls)))
        raise ConfigError(
            f"model '{getattr(model_cls, 'name', cfg.model.get('_target_', '?'))}' does not take {kind} frames "
            f"(data '{cfg.data.name}' has frames of shape {tuple(dataset.frame_shape)}); models that do: {able or 'none'}"
        )
    model = instantiate(cfg.model, frame_shape=tuple(dataset.frame_shape), seq_len=dataset.seq_len)
    guide = instantiate(cfg.guide, model=model)
    return model, guide


def _model_class(node: DictConfig) -> Any:
    """The class (or factory) named by a model config's ``_target_``; None when it cannot be resolved (instantiate then says why)."""
    try:
        return get_object(node.get("_target_", ""))
    except (ImportError, ValueError, AttributeError):
        return None


def _frame_kinds(model_cls: Any) -> tuple[str, ...]:
    """The frame kinds ("image", "vector") a model class takes; a class that does not say takes images only."""
    return tuple(getattr(model_cls, "frame_kinds", ("image",)))


def check_pair(model: nn.Module, guide: nn.Module, x: torch.Tensor, extras: dict | None = None) -> None:
    """Trace model and guide on a small batch (``x`` and the batch keys they take, ``extras``): same latent sites and
    shapes, every site in a group, analytic KLs, the model's extra loss terms as declared (one value per sequence)."""
    groups = SiteGroups.of(model)
    model_args, guide_args = keyword_args(model, extras), keyword_args(guide, extras)
    with torch.no_grad(), poutine.block():
        guide_trace = poutine.trace(guide).get_trace(x, **guide_args)
        prior_trace = poutine.trace(model).get_trace(x, **model_args)  # the model alone: its own site shapes
        model_sites, guide_sites = latent_sites(prior_trace), latent_sites(guide_trace)
        if set(model_sites) != set(guide_sites):
            raise ConfigError(
                f"guide '{guide.name}' does not fit model '{model.name}': latent sites differ "
                f"(model only: {sorted(set(model_sites) - set(guide_sites))}, guide only: {sorted(set(guide_sites) - set(model_sites))}); "
                f"valid guides for {model.name}: {', '.join(valid_guides(model.name))}"
            )
        for name, site in model_sites.items():
            if site["fn"].shape() != guide_sites[name]["fn"].shape():
                raise ConfigError(
                    f"guide '{guide.name}' does not fit model '{model.name}': site '{name}' has shape "
                    f"{tuple(guide_sites[name]['fn'].shape())} in the guide, {tuple(site['fn'].shape())} in the model"
                )
            if groups.index(name) is None:
                raise ConfigError(f"latent site '{name}' of model '{model.name}' belongs to no latent group {model.latent_groups}")
        check_declared_layouts(model, groups, {name: site["value"] for name, site in model_sites.items()}, x.shape[1] if x.dim() > 1 else 1)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x, **model_args)
        site_kls(model_trace, guide_trace)  # raises if any pair lacks an analytic KL
        try:
            term_values(model, guide, model_trace, guide_trace, x, extras)  # the declared terms, one value per sequence
        except TermError as err:
            raise ConfigError(str(err)) from None


def check_declared_layouts(model: nn.Module, groups: SiteGroups, values: dict[str, torch.Tensor], frames: int) -> None:
    """Refuse, in one line, a model whose ``latent_layout`` misses a group or does not describe its traced values."""
    try:
        check_layouts(getattr(model, "latent_layout", {}), model.latent_groups, f"model '{model.name}'")
    except ValueError as err:
        raise ConfigError(str(err)) from None
    for group in groups.names:
        sites = {name: value for name, value in values.items() if groups.index(name) == groups.names.index(group)}
        if (problem := layout_problem(groups.layout(group), sites, frames)) is not None:
            raise ConfigError(f"model '{model.name}', latent group '{group}': {problem}")


def preview_batch(dataset: Dataset, count: int = 8, max_frames: int = 16) -> torch.Tensor | None:
    """A fixed, varied set of sequences for pictures (spread over the data set); None if fewer than two, or not image frames.

    Sequences longer than ``max_frames`` (e.g. a Sprites sheet of 178 poses) show 8 evenly spaced frames.
    """
    count = min(count, len(dataset)) // 2 * 2
    frame_shape = getattr(dataset, "frame_shape", None)
    if count < 2 or (frame_shape is not None and len(frame_shape) != 3):  # the figures draw image frames only
        return None
    stride = max(1, len(dataset) // count)
    stride += stride % 9 == 0  # Sprites stores 9 actions per character: vary the action too
    x = default_collate([dataset[(i * stride) % len(dataset)] for i in range(count)])["x"]
    if x.shape[1] > max_frames:
        x = x[:, torch.linspace(0, x.shape[1] - 1, 8).round().long()]
    return x


def build_trainer(cfg: DictConfig, run_dir: Path, train_set: Dataset, preview: torch.Tensor | None,
                  cluster: Cluster | None = None) -> Trainer:
    """Model, guide, optimiser and annealer from ``cfg``, checked, wrapped in the shared trainer (one rank of
    ``cluster`` under data parallelism)."""
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or not 0 <= cfg.seed < 2**32:
        raise ConfigError(f"seed must be an integer in [0, 2**32), got {cfg.seed!r}")
    pyro.set_rng_seed(cfg.seed)
    device = select_device(cfg.device)
    model, guide = build_model_and_guide(cfg, train_set)
    model.to(device), guide.to(device)
    train_set = frames_seen_by(model, train_set)  # unordered models train on a random subset of frames each step
    train_set = pooled_by_identity(model, train_set, data_facts(cfg.data).identity)  # VDSM stage 1: one identity's frames
    check_batch_keys(model, guide, batch_keys(train_set), f"data '{cfg.data.name}'")
    check_pair(model, guide, *on_device(*collate([train_set[i] for i in range(min(2, len(train_set)))], taken_keys(model, guide)), device))
    pyro.set_rng_seed(cfg.seed)  # the check consumed randomness; start training from the seed
    settings: dict[str, Any] = instantiate(cfg.anneal, _convert_="all") or {}
    schedules = {group: schedule for group, schedule in settings.items() if callable(schedule)}  # skip e.g. `beta: 2`
    try:
        annealer = Annealer(objective_groups(model), schedules)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    optim = build_optim(cfg.optim, model, guide)
    config = OmegaConf.to_container(cfg, resolve=True)
    trainer_cfg = {k: v for k, v in OmegaConf.to_container(cfg.trainer, resolve=True).items() if k not in (*EVALUATOR_KEYS, "distributed")}
    cluster = cluster or Cluster()
    return Trainer(
        model, guide, train_set, optim, annealer, run_dir, seed=cfg.seed, device=device, preview=preview, config=config,
        evaluator=build_evaluator(cfg, device) if cluster.is_main else None, cluster=cluster, **trainer_cfg,
    )


def build_optim(optim_cfg: DictConfig, model: nn.Module, guide: nn.Module):
    """The Pyro optimiser of ``optim``; with ``optim.lr_scale`` ({module prefix: factor}) each module's lr is scaled."""
    settings = OmegaConf.to_container(optim_cfg, resolve=True)
    scales = settings.pop("lr_scale", None)
    check_optim_args(settings.get("optim_args", {}))
    if not scales:
        return instantiate(OmegaConf.create(settings))
    if not isinstance(settings.get("optim_args"), dict) or "lr" not in settings["optim_args"]:
        raise ConfigError("optim.lr_scale scales optim.optim_args.lr, and this optimiser config has none")
    names = [f"{owner}.{name}" for owner, module in (("model", model), ("guide", guide)) for name, _ in module.named_parameters()]
    scaled = ScaledLearningRates(settings["optim_args"], check_lr_scale(scales, names))
    return instantiate(OmegaConf.create(settings), _partial_=True)(optim_args=scaled)


def check_optim_args(args: Any) -> None:
    """Refuse, in one line, settings torch's optimiser would only refuse at the first step, deep inside Pyro."""
    if not isinstance(args, dict):  # per-parameter callables: checked by torch
        return
    for key in ("lr", "clip_norm", "lrd", "weight_decay"):
        value = args.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (key == "lr" and value == 0)):
            raise ConfigError(f"optim.optim_args.{key} must be a {'positive' if key == 'lr' else 'non-negative'} number, got {value!r}")


EVALUATOR_KEYS = ("eval_sequences", "eval_metrics", "eval_judge")  # trainer.* keys read by build_evaluator, not by Trainer


def build_evaluator(cfg: DictConfig, device: torch.device):
    """The judged metrics tracked every ``trainer.eval_every`` steps (None when off): judge trained or loaded now."""
    every = cfg.trainer.get("eval_every")
    if every is None:
        return None
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:  # before a judge is trained for nothing
        raise ConfigError(f"trainer.eval_every must be null (off) or an integer >= 1, got {every!r}")
    from evaluation.judges import JudgeError, JudgeTooWeak  # evaluation imports inference: import here, not at the top
    from evaluation.suite import TrainingEvaluator

    settings = cfg.trainer
    try:
        return TrainingEvaluator(cfg, build_data(cfg, "test"), device, settings.get("eval_sequences", 256),
                                 settings.get("eval_metrics"), OmegaConf.to_container(settings.get("eval_judge")) if settings.get("eval_judge") else None)
    except (ValueError, JudgeError, JudgeTooWeak) as err:
        raise ConfigError(f"trainer.eval_every: {err}") from None


def load_run(run_dir: str | Path, split: str = "test", device: str = "cpu") -> tuple[DictConfig, nn.Module, nn.Module, Dataset, dict[str, Any]]:
    """A trained run ready to inspect: (config, model, guide, data ``split``, checkpoint state), in eval mode."""
    path = Path(run_dir) / "checkpoints" / CHECKPOINT_NAME
    state = load_checkpoint(path)
    cfg = OmegaConf.create(run_config(state, path))
    dataset = build_data(cfg, split)
    model, guide = build_model_and_guide(cfg, dataset)
    model.load_state_dict(state["model"])
    guide.load_state_dict(state["guide"])
    if hasattr(model, "set_step"):
        model.set_step(state["step"])
    target = select_device(device)
    return cfg, model.to(target).eval(), guide.to(target).eval(), dataset, state


def freeze(modules: dict[str, nn.Module], paths: list[str]) -> list[str]:
    """Freeze the modules named by attribute paths such as ``model.decoder`` or ``guide.encoder.trunk``.

    Frozen parameters get ``requires_grad=False``, so ``pyro.module`` keeps them out of the optimiser.
    Returns the names of the frozen parameters.
    """
    frozen = []
    for path in paths:
        root, *attributes = path.split(".")
        module = modules.get(root)
        for attribute in attributes:
            module = getattr(module, attribute, None) if isinstance(module, nn.Module) else None
        if not isinstance(module, nn.Module):
            raise ConfigError(f"cannot freeze '{path}': no such module (paths start with {' or '.join(modules)}, e.g. model.decoder)")
        module.requires_grad_(False)
        frozen += [f"{path}.{name}" for name, _ in module.named_parameters()]
    return frozen


def load_weights(modules: dict[str, nn.Module], checkpoint: str | Path) -> dict[str, list[str]]:
    """Copy matching parameters from an earlier stage's checkpoint; returns the keys that were new or left unused."""
    state = load_checkpoint(checkpoint)
    report: dict[str, list[str]] = {}
    for name, module in modules.items():
        try:
            missing, unexpected = module.load_state_dict(state[name], strict=False)
        except RuntimeError as err:
            raise ConfigError(f"the {name} weights in {checkpoint} do not fit this stage's {name}: {err}") from None
        report[f"{name}_new"], report[f"{name}_unused"] = list(missing), list(unexpected)
    return report
