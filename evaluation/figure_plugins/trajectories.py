"""G&W Fig. 8: the encoded frames of test videos as trajectories, one panel per latent group."""
from __future__ import annotations

from evaluation.figure_plugins.base import Drawn, Figure, FigureContext
from evaluation.figures import save_latent_trajectories


class Trajectories(Figure):
    """Per latent group, every preview video's per-frame posterior means on their top-2 principal axes."""

    name = "trajectories"
    order = 50

    def draw(self, ctx: FigureContext) -> Drawn:
        save_latent_trajectories(ctx.guide, ctx.groups, ctx.preview, ctx.out / "trajectories.png")
        return Drawn({"trajectories.png": "encoded test videos per latent group (G&W Fig. 8)"})
