"""Feature swaps as animations and as a grid (DSA Fig. 3a-b, VDSM Fig. 4): the content of one sequence with the motion of another."""
from __future__ import annotations

import torch

from evaluation.figure_plugins.base import Drawn, Figure, FigureContext
from evaluation.figures import save_gif, save_swap_grid, swap_grid


class SwapPair(Figure):
    """One animated test pair: A, its reconstruction, B, and both swaps side by side."""

    name = "swap_pair"
    order = 40

    def draw(self, ctx: FigureContext) -> Drawn:
        half = ctx.preview.shape[0] // 2
        a, b = ctx.preview[0], ctx.preview[half]
        pair = swap_grid(ctx.model, ctx.guide, ctx.groups, torch.stack([a, b]))  # [0, 0]: recon A; [0, 1] / [1, 0]: the swaps
        columns = [("test A", a), ("recon A", pair[0, 0]), ("test B", b), ("static A+mot. B", pair[0, 1]), ("static B+mot. A", pair[1, 0])]
        save_gif(columns, ctx.out / "swap.gif")
        return Drawn({"swap.gif": "animated: a test pair, a reconstruction and both swaps"})


class SwapGrid(Figure):
    """Four test sequences: cell (i, j) has the content of i and the motion of j, as a PNG and animated."""

    name = "swap_grid"
    order = 45

    def draw(self, ctx: FigureContext) -> Drawn:
        save_swap_grid(ctx.model, ctx.guide, ctx.groups, ctx.preview[:4], ctx.out / "swap_grid.png", ctx.out / "swap_grid.gif")
        return Drawn({"swap_grid.png": "swap grid: the content of each row's sequence with the motion of each column's (diagonal = reconstruction)",
                      "swap_grid.gif": "swap grid, animated"})
