"""Test sequences, their reconstructions and both static/dynamics swaps of each pair (DSA §2, feature swapping)."""
from __future__ import annotations

from evaluation.figure_plugins.base import Drawn, Figure, FigureContext
from inference.figures import save_reconstruction_and_swap


class ReconstructionAndSwap(Figure):
    """Pairs of test sequences: A, recon A, B, recon B, static A + dynamics B, static B + dynamics A."""

    name = "recon_swap"
    order = 20

    def draw(self, ctx: FigureContext) -> Drawn:
        save_reconstruction_and_swap(ctx.model, ctx.guide, ctx.groups, ctx.preview, ctx.out / "recon_swap.png")
        return Drawn({"recon_swap.png": "test sequences, reconstructions and static/dynamics swaps"})
