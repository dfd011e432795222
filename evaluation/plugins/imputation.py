"""DSA Fig. 8 (§4.3): observe the first frames, predict the rest with the prior dynamics, count the wrong pixels."""
from __future__ import annotations

from evaluation.imputation import imputation_curve
from evaluation.plugins.base import Context, Metric


class Imputation(Metric):
    """Wrong-pixel fractions (binarised at 0.5) against the number of missing final frames; binary frames only."""

    name = "imputation"
    order = 110
    title = "DSA Fig. 8 (imputation: observe the first frames, predict the rest with the prior dynamics)"
    prediction = "one roll-out along the prior means"
    sample, draws = False, 1  # the prediction scored, as in evaluation.imputation.impute

    def applies(self, ctx: Context) -> str | None:
        return None if ctx.facts.binary_frames else "the data config does not declare binary frames (evaluation.binary_frames)"

    def compute(self, ctx: Context) -> dict:
        return imputation_curve(ctx.model, ctx.guide, ctx.groups, ctx.dataset, ctx.count, ctx.options.batch_size, ctx.device,
                                sample=self.sample, draws=self.draws)

    def section(self, metrics: dict, paper: dict[str, float]) -> list[str]:
        found = metrics[self.name]
        lines = [f"## {self.title}", "",
                 f"Fraction of wrong pixels (binarised at 0.5) against the number of missing final frames; prediction: {self.prediction}.", "",
                 "| missing frames | " + " | ".join(found) + " |", "|" + " --- |" * (len(found) + 1)]
        missing = sorted({int(n) for curve in found.values() for n in curve})
        for n in missing:
            lines.append(f"| {n} | " + " | ".join(f"{curve.get(n, curve.get(str(n), float('nan'))):.4f}" for curve in found.values()) + " |")
        return lines + [""]
