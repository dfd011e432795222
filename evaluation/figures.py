"""The papers' figures for a trained run: swap grids and fixed-static / fixed-motion generations (DSA Fig. 3), judge predictions
over time for generations sharing f or z (DSA Fig. 4), the latent manifold grid (Helminger Fig. 3), latent
trajectories of test videos (G&W Fig. 8) and animated GIFs of sequences. The figure plug-ins (evaluation/figure_plugins/)
decide which of them a run gets; these are the drawing functions.

Every figure is model-agnostic: latent groups say what is content and what moves, and the per-frame layout of a
group's sites (per-step sites ``z_1..z_T``, a (B, T, D) block, a (B, D, T) block, or one (B, D) value per
sequence) is read from a trace, so the same code draws DSA, VDSM, the unordered and the G&W models.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pyro.poutine as poutine
import torch

from inference.anneal import SiteGroups
from inference.figures import save_rows, strip
from inference.plotting import pyplot
from inference.latents import UseMeans, generate_keeping, generate_sharing, group_latents, latent_sites, motion_groups, posterior_means, swap
from inference.layout import from_per_frame, per_frame

MOTION_LABEL = "motion"



# --------------------------------------------------------------------------------------------------
# DSA Fig. 3 (c, d): generation with the static or the motion latents fixed


@torch.no_grad()
def save_generation_grid(model: Callable, guide: Callable, groups: SiteGroups, x: torch.Tensor, path: str | Path, draws: int = 3) -> None:
    """Per test sequence: the sequence, ``draws`` generations keeping its static latents (motion from the prior),
    then ``draws`` keeping its motion latents (static from the prior)."""
    rows = []
    for i in range(x.shape[0]):
        repeated = x[i : i + 1].expand(draws, *x.shape[1:])
        kept_static = generate_keeping(model, guide, groups, repeated, ("static",))
        kept_motion = generate_keeping(model, guide, groups, repeated, motion_groups(groups))
        rows.append((f"test {i}", x[i]))
        rows += [(f"static of {i},\nprior motion", frames) for frames in kept_static]
        rows += [(f"motion of {i},\nprior static", frames) for frames in kept_motion]
    save_rows(rows, path, title="fixed static / fixed motion generation (DSA Fig. 3c-d): the other latents drawn from the prior; time →")


# --------------------------------------------------------------------------------------------------
# DSA Fig. 4: judge predictions over time for generations sharing f or sharing z


@torch.no_grad()
def judged_classes_over_time(model: Callable, groups: SiteGroups, judge, share: Iterable[str], repeats: int, per_repeat: int, seq_len: int) -> dict[str, np.ndarray]:
    """Judge's class per frame for ``repeats`` x ``per_repeat`` prior generations, each repeat sharing one draw of
    the ``share`` groups: {head: (repeats, per_repeat, T)}; sequence-level heads are repeated over time."""
    classes: dict[str, list[np.ndarray]] = {}
    for _ in range(repeats):
        video = generate_sharing(model, groups, share, per_repeat, seq_len)
        for head, p in judge.predict(video).items():
            if head in (*judge.static_heads, *judge.motion_heads):
                label = p.argmax(-1)
                label = label if label.dim() == 2 else label.unsqueeze(1).expand(-1, seq_len)
                classes.setdefault(head, []).append(label.cpu().numpy())
    return {head: np.stack(parts) for head, parts in classes.items()}


def save_judge_over_time(model: Callable, groups: SiteGroups, judge, seq_len: int, path: str | Path, repeats: int = 5, per_repeat: int = 20) -> dict[str, dict[str, float]]:
    """DSA Fig. 4: rows share f (top) or z (bottom); a panel per judge head plots each generation's predicted class
    over time, one colour per shared draw. Returns per row and head the fraction of sequences whose class never changes."""
    plt = pyplot()
    rows = {"shared static": ("static",), f"shared {MOTION_LABEL}": motion_groups(groups)}
    judged = {label: judged_classes_over_time(model, groups, judge, share, repeats, per_repeat, seq_len) for label, share in rows.items()}
    heads = list(next(iter(judged.values())))
    fig, axes = plt.subplots(len(rows), len(heads), figsize=(2.4 * len(heads), 2.2 * len(rows)), squeeze=False)
    colours = plt.get_cmap("tab10")
    rng = np.random.default_rng(0)
    stable: dict[str, dict[str, float]] = {}
    for r, (label, by_head) in enumerate(judged.items()):
        stable[label] = {}
        for c, head in enumerate(heads):
            ax = axes[r, c]
            labels = by_head[head]
            for k in range(labels.shape[0]):
                for sequence in labels[k]:
                    ax.plot(np.arange(1, seq_len + 1), sequence + rng.uniform(-0.15, 0.15), color=colours(k % 10), alpha=0.35, lw=0.8)
            stable[label][head] = float((labels == labels[..., :1]).all(-1).mean())
            ax.set_title(f"{label}: {head}" + (" (whole seq.)" if judge.levels[head] == "sequence" else ""), fontsize=8)
            ax.set_xlabel("time", fontsize=7), ax.set_ylabel("class id", fontsize=7)
            ax.tick_params(labelsize=6)
    fig.suptitle(f"judge predictions over time, {repeats} shared draws x {per_repeat} generations (DSA Fig. 4); colour = shared draw", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return stable


# --------------------------------------------------------------------------------------------------
# Helminger Fig. 3: decode a 2-D grid over the per-frame latent with the static latent fixed


@torch.no_grad()
def encoded_frames(guide: Callable, groups: SiteGroups, x: torch.Tensor) -> dict[str, torch.Tensor | None]:
    """Posterior means of x per group as (B, T, D) (None where a group is not per frame), plus the raw site values."""
    means = posterior_means(guide, x)
    return {group: per_frame(groups.layout(group), group_latents(groups, means, (group,)), x.shape[1]) for group in groups.names}


def principal_plane(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean (D,), top-2 principal directions (2, D) and their standard deviations (2,) of (N, D) points."""
    centre = points.mean(0)
    if points.shape[1] == 1:
        return centre, torch.ones(1, 1), points.std(0)
    _, singular, directions = torch.linalg.svd(points - centre, full_matrices=False)
    return centre, directions[:2], singular[:2] / max(len(points) - 1, 1) ** 0.5


@torch.no_grad()
def manifold_grid(model: Callable, guide: Callable, groups: SiteGroups, x: torch.Tensor, rows: int = 8, span: float = 2.0) -> torch.Tensor:
    """Frames decoded from a grid over the top-2 principal axes (+- span sd) of the encoded per-frame motion latents,
    every other latent fixed to the posterior mean of x[0] (Helminger Fig. 3); returns (rows, T, C, H, W)."""
    frames = x.shape[1]
    encoded = encoded_frames(guide, groups, x)
    group = next((g for g in motion_groups(groups) if encoded[g] is not None), None)
    trace = poutine.trace(model).get_trace(None, batch_size=rows, seq_len=frames)
    template = group_latents(groups, {n: s["value"] for n, s in latent_sites(trace).items()}, (group,)) if group else {}
    if group is None or from_per_frame(groups.layout(group), template, torch.zeros(rows, frames, 1)) is None:
        raise ValueError(f"{getattr(model, 'name', type(model).__name__)} has no per-frame motion latent to draw a manifold grid of")
    centre, directions, spread = principal_plane(encoded[group].reshape(-1, encoded[group].shape[-1]))
    along_time = torch.linspace(-span, span, frames) * spread[0]
    along_rows = torch.linspace(span, -span, rows) * (spread[1] if len(spread) > 1 else 0.0)
    grid = centre + along_time[None, :, None] * directions[0]
    if len(directions) > 1:
        grid = grid + along_rows[:, None, None] * directions[1]
    fixed = {n: v[:1].expand(rows, *v.shape[1:]) for n, v in posterior_means(guide, x[:1]).items() if n not in template}
    data = {**fixed, **from_per_frame(groups.layout(group), template, grid.expand(rows, frames, -1).to(x.device))}
    with UseMeans():
        return poutine.condition(model, data=data)(None, batch_size=rows, seq_len=frames)


def save_manifold_grid(model: Callable, guide: Callable, groups: SiteGroups, x: torch.Tensor, path: str | Path) -> None:
    """Helminger Fig. 3 as a PNG: each row one value of the 2nd axis, time = the 1st axis."""
    grid = manifold_grid(model, guide, groups, x)
    save_rows([(f"axis 2 row {r}", frames) for r, frames in enumerate(grid)], path,
              title="motion-latent manifold, static fixed to test sequence 0 (Helminger Fig. 3)\n"
                    "left → right: 1st principal axis, rows: 2nd (±2 sd of the encoded test frames)")


# --------------------------------------------------------------------------------------------------
# G&W Fig. 8: encoded test videos as trajectories, static and temporal factors side by side


def project_2d(points: np.ndarray) -> np.ndarray:
    """(N, D) points on their top-2 principal axes (PCA: deterministic, unlike the paper's t-SNE); D <= 2 kept."""
    if points.shape[1] <= 2:
        return np.pad(points, ((0, 0), (0, 2 - points.shape[1])))
    centred = points - points.mean(0)
    _, _, directions = np.linalg.svd(centred, full_matrices=False)
    return centred @ directions[:2].T


def save_latent_trajectories(guide: Callable, groups: SiteGroups, x: torch.Tensor, path: str | Path) -> None:
    """G&W Fig. 8: per latent group, every test video's encoded frames as connected points (one colour per video)."""
    plt = pyplot()
    encoded = {g: v for g, v in encoded_frames(guide, groups, x).items() if v is not None}
    fig, axes = plt.subplots(1, len(encoded), figsize=(3.6 * len(encoded), 3.4), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, (group, values) in zip(axes[0], encoded.items()):
        flat = values.reshape(-1, values.shape[-1]).cpu().numpy()
        points = project_2d(flat).reshape(values.shape[0], values.shape[1], 2)
        for video, path_2d in enumerate(points):
            ax.plot(path_2d[:, 0], path_2d[:, 1], "-o", ms=2.5, lw=0.8, color=colours(video % 10))
        axis = "PCA" if flat.shape[1] > 2 else "latent"
        ax.set_title(f"{group} ({flat.shape[1]}-d)", fontsize=9)
        ax.set_xlabel(f"{axis} 1", fontsize=7), ax.set_ylabel(f"{axis} 2", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.suptitle("encoded test videos, frames connected in time order, colour = video (G&W Fig. 8)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# --------------------------------------------------------------------------------------------------
# Animated GIFs


def save_gif(columns: list[tuple[str, torch.Tensor]], path: str | Path, scale: int = 2, ms_per_frame: int = 200) -> None:
    """Sequences (each (T, C, H, W) in [0, 1], same T) side by side as one looping GIF, a caption over each column."""
    from PIL import Image, ImageDraw

    frames = columns[0][1].shape[0]
    height, width = columns[0][1].shape[-2] * scale, columns[0][1].shape[-1] * scale
    caption, gap = 12, 4
    images = []
    for t in range(frames):
        canvas = Image.new("RGB", (len(columns) * (width + gap), height + caption), "white")
        draw = ImageDraw.Draw(canvas)
        for c, (label, video) in enumerate(columns):
            frame = video[t].clamp(0, 1).expand(3, -1, -1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
            tile = Image.fromarray(frame).resize((width, height), Image.NEAREST)
            canvas.paste(tile, (c * (width + gap), caption))
            draw.text((c * (width + gap) + 1, 0), label[: width // 6], fill="black")
        images.append(canvas)
    images[0].save(path, save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)


# --------------------------------------------------------------------------------------------------
# Swap grid (DSA Fig. 3a-b, VDSM Fig. 4): the content of each row's sequence with the motion of each column's


@torch.no_grad()
def swap_grid(model: Callable, guide: Callable, groups: SiteGroups, x: torch.Tensor) -> torch.Tensor:
    """(N, N, T, C, H, W): cell (i, j) decodes the static latents of x[i] with the motion latents of x[j] (posterior
    means), so the diagonal is the reconstruction of each sequence."""
    count = x.shape[0]
    content, motion = x.repeat_interleave(count, 0), x.repeat(count, *([1] * (x.dim() - 1)))
    return swap(model, guide, groups, content, motion, motion_groups(groups)).reshape(count, count, *x.shape[1:])


def _grid_image(x: torch.Tensor, cells: torch.Tensor, times: list[int], scale: int):
    """One PIL image: the real sequences down the left (content) and along the top (motion), cells[i, j] inside."""
    from PIL import Image, ImageDraw

    count, (height, width) = x.shape[0], x.shape[-2:]
    cell_w, cell_h, gap, label = len(times) * (width + 1) * scale, height * scale, 4, 14  # strip() adds a 1-px separator per frame
    canvas = Image.new("RGB", ((count + 1) * (cell_w + gap), label + (count + 1) * (cell_h + gap)), "white")
    draw = ImageDraw.Draw(canvas)

    def paste(frames: torch.Tensor, row: int, col: int) -> None:
        tile = Image.fromarray(strip(frames[times]).mul(255).round().byte().numpy()).resize((cell_w, cell_h), Image.NEAREST)
        canvas.paste(tile, (col * (cell_w + gap), label + row * (cell_h + gap)))

    for i in range(count):
        paste(x[i], 0, i + 1)
        paste(x[i], i + 1, 0)
        draw.text(((i + 1) * (cell_w + gap) + 2, 1), f"motion of {i}", fill="black")
        for j in range(count):
            paste(cells[i, j], i + 1, j + 1)
    draw.text((2, 1), "content of row", fill="black")
    return canvas


def save_swap_grid(model: Callable, guide: Callable, groups: SiteGroups, x: torch.Tensor, png: str | Path, gif: str | Path,
                   shown_frames: int = 4, scale: int = 1, ms_per_frame: int = 200) -> None:
    """The swap grid as a PNG (``shown_frames`` evenly spaced frames per cell) and as a GIF (every cell animated)."""
    cells = swap_grid(model, guide, groups, x)
    seq_len = x.shape[1]
    times = np.linspace(0, seq_len - 1, min(shown_frames, seq_len)).round().astype(int).tolist()
    _grid_image(x, cells, times, scale).save(png)
    images = [_grid_image(x, cells, [t], 2 * scale) for t in range(seq_len)]
    images[0].save(gif, save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)
