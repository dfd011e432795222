"""FVD-judge (VDSM Table 3 in spirit): Fréchet distance of per-sequence features, prior generations against real test sequences."""
from __future__ import annotations

from evaluation.plugins.base import Context, Metric
from evaluation.protocols import fvd_judge


class FVDJudge(Metric):
    """Features of the judge (or an exported extractor); not tracked while training (it draws prior samples)."""

    name = "fvd"
    needs_judge = True
    tracked = False
    order = 80

    def compute(self, ctx: Context) -> dict:
        count = min(ctx.options.fvd_sequences, len(ctx.dataset))
        return fvd_judge(ctx.model, ctx.judge, ctx.dataset, count, ctx.options.batch_size, extractor=ctx.options.fvd_extractor)

    def section(self, metrics: dict, paper: dict[str, float]) -> list[str]:
        row = metrics[self.name]
        lines = [f"## {row['metric']} (VDSM Table 3 in spirit; Fréchet distance of per-sequence features, prior generations vs real test sequences)", "",
                 "Not comparable with the paper's FID (a 3D ResNeXt-101 on MUG): only with runs using the same features and counts.", "",
                 "| generated vs real | generated half vs real half | real half vs real half (floor) | sequences | features |", "| --- | --- | --- | --- | --- |",
                 f"| {row['fvd']:.4g} | {row['fvd_half']:.4g} | {row['real_vs_real']:.4g} | {row['sequences']} | {row['features']} |", ""]
        if row["features"] >= row["sequences"] // 2:
            lines += [f"**Not meaningful:** {row['features']} features from {row['sequences'] // 2} sequences per half give singular covariance "
                      "estimates (the floor can exceed the distance itself); it needs more sequences per half than features (`fvd_sequences`, a larger "
                      "test split, or an extractor with fewer features).", ""]
        return lines
