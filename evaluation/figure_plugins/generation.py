"""DSA Fig. 3 (c, d): generations keeping a test sequence's static latents, then keeping its motion latents."""
from __future__ import annotations

from evaluation.figure_plugins.base import Drawn, Figure, FigureContext
from evaluation.figures import save_generation_grid


class FixedGeneration(Figure):
    """Per test sequence: 3 generations with its static latents kept, 3 with its motion latents kept."""

    name = "generation"
    order = 30

    def draw(self, ctx: FigureContext) -> Drawn:
        save_generation_grid(ctx.model, ctx.guide, ctx.groups, ctx.preview[:3], ctx.out / "generation.png")
        return Drawn({"generation.png": "fixed static / fixed motion generation (DSA Fig. 3c-d)"})
