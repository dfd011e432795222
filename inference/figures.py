"""Pictures of a model at work: test sequences, reconstructions and feature swaps, labelled."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from inference.anneal import SiteGroups
from inference.latents import reconstruct, swap
from inference.plotting import pyplot


def strip(frames: torch.Tensor) -> torch.Tensor:
    """(T, C, H, W) -> one (H, T*W, 3) image strip, time left to right, 1-px grey separators."""
    frames = frames.clamp(0, 1).cpu()
    if frames.shape[1] == 1:
        frames = frames.expand(-1, 3, -1, -1)
    padded = torch.nn.functional.pad(frames, (0, 1), value=0.5)
    return padded.permute(2, 0, 3, 1).reshape(frames.shape[2], -1, 3)


def rows_figure(rows: list[tuple[str, torch.Tensor]], title: str = ""):
    """A matplotlib Figure of labelled rows of sequences (each (T, C, H, W)), time left to right."""
    plt = pyplot()
    height = 0.4 + 0.95 * len(rows)
    fig, axes = plt.subplots(len(rows), 1, figsize=(1.6 + 0.9 * rows[0][1].shape[0], height), squeeze=False)
    for ax, (label, frames) in zip(axes[:, 0], rows):
        ax.imshow(strip(frames).numpy(), interpolation="nearest")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 0.1 / height)
    fig.subplots_adjust(left=1.5 / fig.get_figwidth(), right=0.99, top=1 - 0.4 / height, bottom=0.01, hspace=0.1)
    return fig


def save_rows(rows: list[tuple[str, torch.Tensor]], path: str | Path, title: str = "") -> None:
    """Save labelled rows of sequences (each (T, C, H, W)) as one PNG."""
    fig = rows_figure(rows, title)
    fig.savefig(path, dpi=80)
    pyplot().close(fig)


@torch.no_grad()
def save_reconstruction_and_swap(model: Callable, guide: Callable, groups: SiteGroups, x: torch.Tensor, path: str | Path) -> None:
    """Per pair (A, B): A, its reconstruction, B, its reconstruction, then static(A)+dynamics(B) and static(B)+dynamics(A)."""
    half = x.shape[0] // 2
    if half == 0:
        raise ValueError("need at least two sequences to draw a swap")
    a, b = x[:half], x[half : 2 * half]
    recon_a, recon_b = reconstruct(model, guide, a), reconstruct(model, guide, b)
    swap_ab, swap_ba = swap(model, guide, groups, a, b), swap(model, guide, groups, b, a)
    rows = []
    for i in range(half):
        rows += [
            (f"A{i}", a[i]), (f"recon A{i}", recon_a[i]), (f"B{i}", b[i]), (f"recon B{i}", recon_b[i]),
            (f"static A{i}\n+ dynamics B{i}", swap_ab[i]), (f"static B{i}\n+ dynamics A{i}", swap_ba[i]),
        ]
    save_rows(rows, path, title="test sequences, reconstructions (posterior means) and static/dynamics swaps; time →")
