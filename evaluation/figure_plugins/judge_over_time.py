"""DSA Fig. 4: the judge's predictions over time for prior generations sharing f, and sharing z."""
from __future__ import annotations

from evaluation.figure_plugins.base import Drawn, Figure, FigureContext
from evaluation.figures import save_judge_over_time


class JudgeOverTime(Figure):
    """Generations sharing one static draw (top) or one motion draw (bottom), each head's class against time."""

    name = "judge_over_time"
    needs_judge = True
    order = 70

    def applies(self, ctx: FigureContext) -> str | None:
        return None if "static" in ctx.groups.names else "the model has no static latent group"

    def draw(self, ctx: FigureContext) -> Drawn:
        save_judge_over_time(ctx.model, ctx.groups, ctx.judge, ctx.dataset.seq_len, ctx.out / "judge_over_time.png")
        return Drawn({"judge_over_time.png": "judge predictions over time for generations sharing f or z (DSA Fig. 4)"})
