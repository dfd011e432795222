"""DSA Table 1 (Li & Mandt 2018, §4.1): the judge's disagreement on fix-f / fix-z generations of the test sequences."""
from __future__ import annotations

from evaluation.plugins.base import Context, Metric
from evaluation.protocols import dsa_table1
from evaluation.published import DSA_TABLE1

COLUMNS = ("disagreement", "kl_recon", "kl_random")


class DSATable1(Metric):
    """Static heads: f encoded, z_1:T from the prior; motion heads: the motion latents encoded, f from the prior."""

    name = "dsa_table1"
    needs_judge = True
    order = 10

    def compute(self, ctx: Context) -> dict:
        return dsa_table1(ctx.model, ctx.guide, ctx.groups, ctx.dataset, ctx.judge, ctx.count, ctx.options.batch_size)

    def published(self, metrics: dict) -> dict[str, float]:
        if metrics.get("model") != "dsa":  # the paper's numbers are DSA's own
            return {}
        return {f"dsa_table1.{head}.{column}": value for head, row in DSA_TABLE1.get(metrics.get("data"), {}).items()
                for column, value in zip(COLUMNS, row)}

    def section(self, metrics: dict, paper: dict[str, float]) -> list[str]:
        lines = ["## DSA Table 1 (judge on fix-f / fix-z generations of the test sequences)", "",
                 "Static heads: f encoded, z_1:T from the prior; motion heads: the motion latents encoded, f from the prior.", "",
                 "| head | disagreement | KL-recon | KL-random | paper (factorised q): disagreement / KL-recon / KL-random |",
                 "| --- | --- | --- | --- | --- |"]
        for head, row in metrics[self.name].items():
            keys = [f"dsa_table1.{head}.{column}" for column in COLUMNS]
            published_row = f"{paper[keys[0]]:.2%} / {paper[keys[1]]:.4f} / {paper[keys[2]]:.4f}" if keys[0] in paper else "-"
            lines.append(f"| {head} | {row['disagreement']:.2%} | {row['kl_recon']:.4f} | {row['kl_random']:.4f} | {published_row} |")
        return lines + [""]
