"""Grathwohl & Wilson Fig. 3: "the same sequence of temporal encodings with two different static encodings" -- one
test sequence's motion latents decoded under the static latents of two other test sequences (posterior means), so the
static latents are constant along each row and the motion latents along each column."""
from __future__ import annotations

import torch

from evaluation.figure_plugins.base import Drawn, Figure, FigureContext
from inference.figures import save_rows
from inference.latents import motion_groups, swap


@torch.no_grad()
def shared_motion(model, guide, groups, motion: torch.Tensor, looks: torch.Tensor) -> torch.Tensor:
    """(N, T, ...): the motion latents of ``motion`` (1, T, ...) decoded with the static latents of each of ``looks`` (N, T, ...)."""
    return swap(model, guide, groups, looks, motion.expand_as(looks), motion_groups(groups))


class SharedMotion(Figure):
    """G&W Fig. 3: a motion donor's sequence, then its motion under the looks of two other test sequences."""

    name = "shared_motion"
    order = 92
    needs_static_and_motion = True

    def applies(self, ctx: FigureContext) -> str | None:
        return None if ctx.preview.shape[0] >= 3 else "fewer than three preview sequences"

    def draw(self, ctx: FigureContext) -> Drawn:
        donor, looks = ctx.preview[:1], ctx.preview[1:3]
        decoded = shared_motion(ctx.model, ctx.guide, ctx.groups, donor, looks)
        rows = [("motion donor", donor[0]), *[(f"look of test {i + 1},\nsame motion", frames) for i, frames in enumerate(decoded)]]
        save_rows(rows, ctx.out / "shared_motion.png", title="the same motion latents under two static latents (G&W Fig. 3); time →")
        return Drawn({"shared_motion.png": "one sequence's motion latents under two other sequences' static latents (G&W Fig. 3)"})
