"""Swap consistency (ours): decoded with another sequence's static latent, does each factor follow the latent that should hold it?"""
from __future__ import annotations

from evaluation.plugins.base import Context, Metric
from evaluation.plugins.reconstruction_consistency import per_factor_lines
from evaluation.protocols import swap_consistency


class SwapConsistency(Metric):
    """The share of feature swaps (DSA §2) the judge classes as the factor's donor: static for identity, motion for the action."""

    name = "swap_consistency"
    needs_judge = True
    order = 50

    def compute(self, ctx: Context) -> dict:
        return swap_consistency(ctx.model, ctx.guide, ctx.groups, ctx.dataset, ctx.judge, ctx.count, ctx.options.batch_size)

    def section(self, metrics: dict, paper: dict[str, float]) -> list[str]:
        return per_factor_lines(metrics[self.name], "Swap consistency (ours, not a paper metric: each sequence's motion latents decoded "
                                "with the static latent of another test sequence (a seeded random pairing); the share judged in the class of the factor's donor, the "
                                "static one for identity, the motion one for the action; `action.motion` / `action.direction`: among the swaps whose donors "
                                "differ in that part of the action, the share that keeps the motion donor's)")
