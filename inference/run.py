"""One trained run as one object for notebooks and scripts: ``run = Run.load(dir)``, then traces, posteriors, swaps,
generations and the evaluated metrics, without reaching into the trainer's helpers."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
from omegaconf import DictConfig, OmegaConf
from torch.distributions import Independent
from torch import nn
from torch.utils.data import Dataset

from inference.anneal import SiteGroups
from inference.build import load_run
from inference.figures import rows_figure
from inference.plotting import pyplot
from inference.trainer import CHECKPOINT_NAME
from inference.latents import generate_keeping, group_latents, latent_sites, motion_groups, posterior_means, reconstruct, swap, traces
from inference.layout import per_frame

Sequences = torch.Tensor | int | Sequence[int]  # a batch (B, T, ...) or test indices


@dataclass
class Traces:
    """The guide's trace and the model's trace replayed on it, for one batch (``Run.traces``)."""

    model: Any
    guide: Any
    groups: SiteGroups

    def latent_table(self) -> str:
        """Latent sites only (no parameters, no plates), in the order the guide draws them: group, distribution and shapes."""
        rows = [("site", "group", "q", "batch shape", "event shape", "p")]
        for name, site in latent_sites(self.guide).items():
            index, fn = self.groups.index(name), site["fn"]
            prior = self.model.nodes[name]["fn"] if name in self.model.nodes else None
            rows.append((name, self.groups.names[index] if index is not None else "-", family(fn),
                         str(tuple(fn.batch_shape)), str(tuple(fn.event_shape)), family(prior) if prior is not None else "-"))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)

    def __repr__(self) -> str:
        return self.latent_table()


def family(fn: Any) -> str:
    """A distribution's family, seen through ``to_event`` wrappers: ``Normal`` for ``Normal(...).to_event(1)``."""
    while isinstance(fn, Independent):
        fn = fn.base_dist
    return type(fn).__name__


class Run:
    """A trained run: ``model``, ``guide``, ``data`` (one split), ``cfg``, ``step``, and what one does with them."""

    def __init__(self, directory: Path, cfg: DictConfig, model: nn.Module, guide: nn.Module, data: Dataset, step: int, split: str = "test") -> None:
        self.directory, self.cfg, self.model, self.guide, self.data, self.step, self.split = directory, cfg, model, guide, data, step, split
        self.groups, self.name = SiteGroups.of(model), model.name

    @classmethod
    def load(cls, directory: str | Path, split: str = "test", device: str = "cpu", stage: str | None = None) -> Run:
        """The run in ``directory``; a staged run (VDSM) loads its last trained stage, or ``stage``, from its top directory."""
        path = stage_directory(Path(directory), stage)
        cfg, model, guide, data, state = load_run(path, split, device)
        return cls(path, cfg, model, guide, data, int(state["step"]), split)

    @property
    def device(self) -> torch.device:
        return next(self.guide.parameters()).device

    def __repr__(self) -> str:
        return (f"Run({self.directory}: {self.name} + {self.cfg.guide.name} guide on {self.cfg.data.name}, step {self.step}, "
                f"latent groups {', '.join(self.groups.names)}, {len(self.data)} {self.split} sequences)")

    def sequences(self, which: Sequences) -> torch.Tensor:
        """A batch (B, T, ...) on the run's device: test indices are read from ``data``, a tensor passes through."""
        if isinstance(which, torch.Tensor):
            return which.to(self.device)
        indices = [which] if isinstance(which, int) else list(which)
        return torch.stack([self.data[i]["x"] for i in indices]).to(self.device)

    @torch.no_grad()
    def traces(self, which: Sequences) -> Traces:
        """Guide and replayed model traces of a batch; printing them shows the latent sites only."""
        model_trace, guide_trace = traces(self.model, self.guide, self.sequences(which))
        return Traces(model_trace, guide_trace, self.groups)

    @torch.no_grad()
    def posterior(self, which: Sequences) -> dict[str, torch.Tensor]:
        """Posterior means per latent group: (B, D) for a per-sequence group, (B, T, D) for one with a value per frame
        (``z_1..z_T`` stacked, G&W's frame blocks as frames x features)."""
        x = self.sequences(which)
        means = posterior_means(self.guide, x)
        stacked = {}
        for group in self.groups.names:
            sites = group_latents(self.groups, means, [group])
            if not sites:
                continue
            if self.groups.layout(group) == "sequence":
                stacked[group] = torch.cat([v.flatten(1) for v in sites.values()], -1)
            else:
                stacked[group] = per_frame(self.groups.layout(group), sites, x.shape[1])
        return stacked

    @torch.no_grad()
    def reconstruct(self, which: Sequences) -> torch.Tensor:
        """Decoded means of the sequences from their posterior-mean latents."""
        return reconstruct(self.model, self.guide, self.sequences(which))

    @torch.no_grad()
    def swap(self, content: Sequences, motion: Sequences) -> torch.Tensor:
        """The static latent of ``content`` decoded with the motion latents of ``motion`` (DSA §2 feature swapping)."""
        return swap(self.model, self.guide, self.groups, self.sequences(content), self.sequences(motion), motion_groups(self.groups))

    @torch.no_grad()
    def generate(self, keep: Iterable[str] = (), which: Sequences | None = None, count: int = 8, seq_len: int | None = None) -> torch.Tensor:
        """Sequences from the prior; with ``keep`` groups (e.g. ``("static",)``), those latents are encoded from ``which``
        and the others drawn (DSA Table 1's fix-f / fix-z generations)."""
        keep = tuple(keep)
        unknown = [g for g in keep if g not in self.groups.names]
        if unknown:
            raise ValueError(f"keep names no latent group of {self.name}: {', '.join(unknown)} (groups: {', '.join(self.groups.names)})")
        if keep:
            if which is None:
                raise ValueError("keeping latents needs the sequences to encode them from: generate(keep=..., which=...)")
            return generate_keeping(self.model, self.guide, self.groups, self.sequences(which), keep)
        return self.model(None, batch_size=count, seq_len=seq_len or self.data.seq_len)

    def metrics(self) -> dict:
        """What ``python evaluate.py run=<dir>`` measured for this run (its eval/metrics.json)."""
        path = self.directory / "eval" / "metrics.json"
        if not path.is_file():
            raise FileNotFoundError(f"{self.directory} has not been evaluated yet: run `python evaluate.py run={self.directory}`")
        return json.loads(path.read_text())

    def show(self, rows: dict[str, Sequences], title: str = ""):
        """A matplotlib Figure of labelled sequence rows ({label: sequences or test index}); shown inline in a notebook."""
        shown = [(label, self._frames(value)) for label, value in rows.items()]
        figure = rows_figure(shown, title)
        pyplot().close(figure)  # a notebook shows the returned figure once, not again as an open pyplot figure
        return figure

    def _frames(self, value: Sequences) -> torch.Tensor:
        """One image sequence (T, C, H, W) to draw: a test index, the first of a batch, or a sequence as given."""
        frames = value if isinstance(value, torch.Tensor) and value.dim() == 4 else self.sequences(value)[0]
        if frames.dim() != 4:
            raise ValueError(f"show draws image sequences; {self.cfg.data.name} frames have shape {tuple(frames.shape[1:])}")
        return frames.detach().cpu()


def stage_directory(directory: Path, stage: str | None = None) -> Path:
    """The directory holding the checkpoint: ``directory`` itself, or a stage of a staged run (the last trained one)."""
    if stage is None and (directory / "checkpoints" / CHECKPOINT_NAME).is_file():
        return directory
    stages = staged_names(directory)
    trained = [name for name in stages if (directory / name / "checkpoints" / CHECKPOINT_NAME).is_file()]
    if stage is not None:
        if stage not in trained:
            raise FileNotFoundError(f"{directory} has no trained stage {stage!r} (trained stages: {', '.join(trained) or 'none'})")
        return directory / stage
    if not trained:
        raise FileNotFoundError(f"no trained run at {directory} (expected checkpoints/{CHECKPOINT_NAME}, or stage folders of a staged run)")
    return directory / trained[-1]


def staged_names(directory: Path) -> list[str]:
    """Stage names in training order: from the run's saved Hydra config, else every sub-folder with a checkpoint."""
    saved = directory / ".hydra" / "config.yaml"
    if saved.is_file():
        stages = OmegaConf.load(saved).get("stages") or []
        if stages:
            return [str(stage["name"]) for stage in stages]
    return sorted(p.parent.parent.name for p in directory.glob(f"*/checkpoints/{CHECKPOINT_NAME}"))
