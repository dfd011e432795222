"""How a latent group's sites map to the frames of a sequence: declared by each model (``latent_layout``), carried by
``SiteGroups``, and read here by every protocol, the imputation, the figures and ``Run`` (one helper, not four guesses).

Layouts (values of one group's sites, batch first):

* ``sequence``: one value per sequence, (B, D) (DSA's f, VDSM's s and d, the LSTM baselines' initial z);
* ``steps``: one site per frame, ``<base>_1`` .. ``<base>_T``, each (B, D) (DSA's and VDSM's z_1:T);
* ``frames``: one block over the frames, (B, T, D) (Helminger's z, VDSM stage 1's z);
* ``frames_last``: one block with the frames last, (B, D, T) (Grathwohl & Wilson's h^s and h^t).

A group a model does not declare (a test's toy model) is inferred from its values by ``infer_layout``, here only.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

LAYOUTS = ("sequence", "steps", "frames", "frames_last")
STEP_SITE = re.compile(r"(?P<base>.+)_(?P<step>\d+)")  # a ``steps`` site: <base>_<t>, t = 1 .. T


def check_layouts(layouts: Mapping[str, str], groups: Mapping[str, str], owner: str) -> None:
    """Raise ValueError (one line) unless ``layouts`` gives a known layout to exactly the latent groups."""
    unknown = {group: layout for group, layout in layouts.items() if layout not in LAYOUTS}
    if unknown:
        raise ValueError(f"{owner}: unknown latent layout(s) {unknown}; valid: {', '.join(LAYOUTS)}")
    if set(layouts) != set(groups):
        raise ValueError(f"{owner}: latent_layout names groups {sorted(layouts)}, latent_groups are {sorted(groups)}")


def step_of(site: str) -> tuple[str, int] | None:
    """(base name, step) of a per-step site name such as z_12, else None."""
    match = STEP_SITE.fullmatch(site)
    return (match["base"], int(match["step"])) if match else None


def infer_layout(sites: Mapping[str, torch.Tensor], frames: int) -> str | None:
    """The layout a group's values show (for groups no model declared): None when they fit none of them."""
    values = list(sites.values())
    if not values:
        return None
    if frames > 1 and len(values) == frames and all(v.dim() <= 2 and step_of(n) for n, v in sites.items()):
        return "steps"
    if all(v.dim() <= 2 for v in values):
        return "sequence"
    if all(v.dim() == 3 and v.shape[1] == frames for v in values):
        return "frames"
    if all(v.dim() == 3 and v.shape[2] == frames for v in values):
        return "frames_last"
    return None


def layout_problem(layout: str, sites: Mapping[str, torch.Tensor], frames: int) -> str | None:
    """Why a group's traced values do not have their declared layout (None when they do); for ``check_pair``."""
    shapes = {name: tuple(value.shape) for name, value in sites.items()}
    if layout == "steps":
        parsed = [step_of(name) for name in sites]
        bases = {p[0] for p in parsed if p is not None}
        every_step = None not in parsed and len(sites) == len(bases) * frames and {p[1] for p in parsed} == set(range(1, frames + 1))
        if not every_step or any(len(s) > 2 for s in shapes.values()):
            return f"declared steps (sites <name>_1 .. <name>_{frames}, each (B, D) or (B,)), traced {shapes}"
    elif layout == "sequence" and any(len(s) < 1 for s in shapes.values()):
        return f"declared sequence (one value per sequence and site, batch first), traced {shapes}"
    elif layout == "frames" and any(len(s) != 3 or s[1] != frames for s in shapes.values()):
        return f"declared frames ((B, {frames}, D) blocks), traced {shapes}"
    elif layout == "frames_last" and any(len(s) != 3 or s[2] != frames for s in shapes.values()):
        return f"declared frames_last ((B, D, {frames}) blocks), traced {shapes}"
    return None


def per_frame(layout: str | None, sites: Mapping[str, torch.Tensor], frames: int) -> torch.Tensor | None:
    """One group's values as (B, frames, D): steps stacked over time, blocks kept (transposed if frames-last),
    per-sequence values repeated over the frames; None when the group has no values or no frame layout."""
    layout = layout or infer_layout(sites, frames)
    if not sites or layout is None:
        return None
    if layout == "steps":
        return torch.stack([sites[name].reshape(sites[name].shape[0], -1) for name in sorted(sites, key=lambda n: step_of(n)[1])], dim=1)
    if layout == "sequence":
        parts = [v.reshape(v.shape[0], 1, -1).expand(-1, frames, -1) for v in sites.values()]
    else:
        parts = [v.transpose(1, 2) if layout == "frames_last" else v for v in sites.values()]
    return torch.cat(parts, dim=-1)


def from_per_frame(layout: str | None, template: Mapping[str, torch.Tensor], values: torch.Tensor) -> dict[str, torch.Tensor] | None:
    """Inverse of ``per_frame`` for a group that varies over frames: (B, T, D) back into the template's sites; None for a
    per-sequence group or a group of several blocks (which columns belong to which site would be a guess)."""
    layout = layout or infer_layout(template, values.shape[1])
    if layout == "steps":
        ordered = sorted(template, key=lambda n: step_of(n)[1])
        return {name: values[:, t, 0] if template[name].dim() == 1 else values[:, t] for t, name in enumerate(ordered)}  # (B,) steps stay (B,)
    if layout in ("frames", "frames_last") and len(template) == 1:
        (name,) = template
        return {name: values.transpose(1, 2) if layout == "frames_last" else values}
    return None


def sequence_embedding(layout: str | None, sites: Mapping[str, torch.Tensor], frames: int, pooling: str) -> torch.Tensor:
    """One row per sequence (B, D) of a group: per-sequence values as they are, per-frame ones in frame order (``flatten``)
    or averaged over the frames (``mean``)."""
    layout = layout or infer_layout(sites, frames)
    if layout == "sequence":
        return torch.cat([v.reshape(v.shape[0], -1) for v in sites.values()], dim=-1)
    by_frame = per_frame(layout, sites, frames)
    if by_frame is None:
        raise ValueError(f"latent sites {sorted(sites)} have no frame layout for {frames} frames")
    return by_frame.reshape(by_frame.shape[0], -1) if pooling == "flatten" else by_frame.mean(1)
