"""Helminger et al. Fig. 3: frames decoded over a 2-D grid of the per-frame motion latent, the static latent fixed."""
from __future__ import annotations

from evaluation.figure_plugins.base import Drawn, Figure, FigureContext
from evaluation.figures import save_manifold_grid


class Manifold(Figure):
    """The motion-latent manifold of test sequence 0 (models with a per-frame motion latent)."""

    name = "manifold"
    order = 60

    def draw(self, ctx: FigureContext) -> Drawn:
        try:
            save_manifold_grid(ctx.model, ctx.guide, ctx.groups, ctx.preview, ctx.out / "manifold.png")
        except ValueError as err:  # the model has no per-frame motion latent: said in the report
            return Drawn({f"-{self.name}": f"manifold grid not drawn: {err}"})
        return Drawn({"manifold.png": "motion-latent manifold with the static latent fixed (Helminger Fig. 3)"})
