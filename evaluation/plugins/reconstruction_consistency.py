"""Reconstruction consistency (ours): does the judge give the posterior-mean reconstruction the real sequence's class?"""
from __future__ import annotations

from evaluation.plugins.base import Context, Metric
from evaluation.protocols import reconstruction_consistency


def per_factor_lines(shares: dict[str, float], heading: str) -> list[str]:
    """One of our per-factor checks (no paper reports it, so no paper column): a heading and one share per factor."""
    return [f"## {heading}", "", ", ".join(f"{head} {value:.2%}" for head, value in shares.items()), ""]


class ReconstructionConsistency(Metric):
    """An upper bound for the accuracy consistency: a factor the decoder loses cannot survive a swap."""

    name = "reconstruction_consistency"
    needs_judge = True
    order = 40

    def compute(self, ctx: Context) -> dict:
        return reconstruction_consistency(ctx.model, ctx.guide, ctx.dataset, ctx.judge, ctx.count, ctx.options.batch_size)

    def section(self, metrics: dict, paper: dict[str, float]) -> list[str]:
        return per_factor_lines(metrics[self.name], "Reconstruction consistency (ours, not a paper metric: the judge's class of the "
                                "posterior-mean reconstruction against its class of the real sequence; an upper bound for the accuracy consistency)")
