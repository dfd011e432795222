"""DSA Fig. 7: imputation from the first frames, the rest predicted by the prior dynamics (drawn when the metric ran)."""
from __future__ import annotations

from evaluation.figure_plugins.base import Drawn, Figure, FigureContext
from evaluation.imputation import save_imputation_figure

OBSERVED = (2, 4, 8)  # frames observed in the figure's rows


class Imputation(Figure):
    """Three test sequences and their imputations from 2, 4 and 8 observed frames."""

    name = "imputation"
    order = 80

    def applies(self, ctx: FigureContext) -> str | None:
        return None if "imputation" in ctx.metrics else "the imputation metric did not run for this model and data"

    def draw(self, ctx: FigureContext) -> Drawn:
        save_imputation_figure(ctx.model, ctx.guide, ctx.groups, ctx.preview[:3], OBSERVED, ctx.out / "imputation.png")
        return Drawn({"imputation.png": "imputation: the first frames observed, the rest predicted by the prior dynamics (DSA Fig. 7-8)"})
