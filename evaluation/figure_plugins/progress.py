"""Training progress from the run's log: annealed loss, -ELBO and KL per latent group against steps."""
from __future__ import annotations

from evaluation.figure_plugins.base import Drawn, Figure, FigureContext
from inference.logger import plot_curves


class Progress(Figure):
    """metrics.csv drawn as curves (inference/logger.py)."""

    name = "progress"
    needs_images = False
    order = 10

    def applies(self, ctx: FigureContext) -> str | None:
        return None if (ctx.run_dir / "metrics.csv").is_file() else "the run has no metrics.csv"

    def draw(self, ctx: FigureContext) -> Drawn:
        plot_curves(ctx.run_dir / "metrics.csv", ctx.out / "progress.png")
        return Drawn({"progress.png": "training progress: annealed loss, -ELBO and KL per latent group (training log)"})
