"""Grathwohl & Wilson Figs. 4-5 for every model with a static group: linear interpolation between two test sequences in
the static latents with the motion latents held fixed (Fig. 4), and in the motion latents with the static held (Fig. 5).

Each path decodes ``STEPS`` evenly spaced blends (1 - w) a + w b of the moving groups' posterior means, every other
latent at sequence A's posterior mean. What the paper shows is quantified on ``PAIRS`` test pairs (2 x PAIRS sequences
spread evenly over the test split, paired in order): with a judge, along the static path each head the static latent
should carry (the digit, the Sprites attributes) changes class exactly once when its ends differ, and the heads it
should not carry never change; along the motion path the same with the roles swapped. When the data set's per-frame
temporal target is the object's location (Bouncing MNIST), the decoded object's centre of mass at each frame should
move monotonically along the motion path. Departure: the paper interpolates between two points drawn from the prior,
one frame each; here between two encoded test sequences (every frame), so the check is judged against real endpoints.
"""
from __future__ import annotations

from typing import Iterable

import pyro.poutine as poutine
import torch

from evaluation.figure_plugins.base import Drawn, Figure, FigureContext
from evaluation.protocols import frames_of, judged_classes
from evaluation.suite import EVAL_FRAMES
from inference.figures import save_rows
from inference.latents import UseMeans, group_latents, motion_groups, posterior_means

STEPS = 8  # blends per path, both ends included
PAIRS = 32  # test pairs the judged check averages over (fewer when their frames would exceed EVAL_FRAMES a blend)
SHOWN_FRAMES = 16  # longer sequences (a Sprites sheet's 178 poses) are shown at 16 evenly spaced frames
LOCATION_TOLERANCE = 0.5  # pixels a centre of mass may step back along a path and still count as monotone


@torch.no_grad()
def interpolate(model, guide, groups, a: torch.Tensor, b: torch.Tensor, moving: Iterable[str], steps: int = STEPS) -> torch.Tensor:
    """(N, steps, T, ...) decodings: the ``moving`` groups' posterior means blended linearly from a's to b's, every
    other latent a's posterior mean (G&W Figs. 4-5)."""
    start, end = posterior_means(guide, a), posterior_means(guide, b)
    blended = set(group_latents(groups, start, moving))
    paths = []
    for w in torch.linspace(0.0, 1.0, steps).tolist():
        data = {name: (1 - w) * value + w * end[name] if name in blended else value for name, value in start.items()}
        with UseMeans():
            paths.append(poutine.condition(model, data=data)(None, batch_size=a.shape[0], seq_len=a.shape[1]))
    return torch.stack(paths, 1)


def class_changes(judge, paths: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per judge head: (number of class changes along each path (N,), whether its two ends differ (N,))."""
    count, steps = paths.shape[:2]
    found = {}
    for head, classes in judged_classes(judge, paths.flatten(0, 1)).items():
        classes = classes.view(count, steps)
        found[head] = ((classes[:, 1:] != classes[:, :-1]).sum(1), classes[:, 0] != classes[:, -1])
    return found


def judged_path(judge, paths: torch.Tensor, carried: Iterable[str]) -> dict[str, dict[str, float]]:
    """Per head: for the ``carried`` heads, the share of paths with differing ends that change class exactly once;
    for the others, the share of paths that never change class."""
    carried = set(carried)
    found = {}
    for head, (changes, ends_differ) in class_changes(judge, paths).items():
        if head in carried:
            found[head] = {"changes_once": float((changes[ends_differ] == 1).float().mean()) if ends_differ.any() else float("nan"),
                           "paths": int(ends_differ.sum())}
        else:
            found[head] = {"never_changes": float((changes == 0).float().mean()), "paths": int(changes.numel())}
    return found


def centres_of_mass(frames: torch.Tensor) -> torch.Tensor:
    """(..., C, H, W) images -> (..., 2) intensity-weighted (row, column) centre, in pixels."""
    mass = frames.clamp(min=0).sum(-3)
    rows = torch.arange(mass.shape[-2], dtype=mass.dtype, device=mass.device)
    cols = torch.arange(mass.shape[-1], dtype=mass.dtype, device=mass.device)
    total = mass.sum((-2, -1)).clamp(min=1e-8)
    return torch.stack([(mass.sum(-1) * rows).sum(-1) / total, (mass.sum(-2) * cols).sum(-1) / total], -1)


def monotone_share(paths: torch.Tensor, tolerance: float = LOCATION_TOLERANCE) -> float:
    """Share of (path, frame) whose centre of mass moves monotonically in both coordinates along the path (N, K, T, C, H, W)."""
    steps = centres_of_mass(paths).transpose(1, 2).diff(dim=2)  # (N, T, K-1, 2)
    monotone = ((steps >= -tolerance).all(2) | (steps <= tolerance).all(2)).all(-1)
    return float(monotone.float().mean())


class Interpolation(Figure):
    """G&W Figs. 4-5: the static path and the motion path of one test pair as image grids, checked on PAIRS pairs."""

    name = "interpolation"
    order = 90
    needs_static_and_motion = True

    def applies(self, ctx: FigureContext) -> str | None:
        return None if len(ctx.dataset) >= 2 else "fewer than two test sequences"

    def draw(self, ctx: FigureContext) -> Drawn:
        seq_len = ctx.dataset[0]["x"].shape[0]
        pairs = max(1, min(PAIRS, len(ctx.dataset) // 2, EVAL_FRAMES // (STEPS * seq_len)))
        spread = torch.linspace(0, len(ctx.dataset) - 1, 2 * pairs).round().long().tolist()  # pairs from all over the test split
        x = frames_of(ctx.dataset, spread, ctx.preview.device)
        a, b = x[0::2], x[1::2]
        paths = {"static": interpolate(ctx.model, ctx.guide, ctx.groups, a, b, ("static",)),
                 "motion": interpolate(ctx.model, ctx.guide, ctx.groups, a, b, motion_groups(ctx.groups))}
        shown = torch.linspace(0, seq_len - 1, min(seq_len, SHOWN_FRAMES)).round().long()
        files = {}
        for kind, figure, held in (("static", 4, "motion"), ("motion", 5, "static")):
            file = f"interpolation_{kind}.png"
            blends = [(f"w = {w:.2f}", frames[shown]) for w, frames in zip(torch.linspace(0, 1, STEPS).tolist(), paths[kind][0])]
            save_rows([("A", a[0][shown]), *blends, ("B", b[0][shown])], ctx.out / file,
                      title=f"linear interpolation from A to B in the {kind} latents, {held} latents of A held (G&W Fig. {figure}); time →")
            files[file] = f"interpolation in the {kind} latents, the {held} latents held fixed (G&W Fig. {figure})"
        return Drawn(files, self.check(ctx, paths))

    def check(self, ctx: FigureContext, paths: dict[str, torch.Tensor]) -> dict:
        """What the figures claim, measured on every pair: judged class changes along each path, the location's monotonicity."""
        found: dict = {"pairs": paths["static"].shape[0], "steps": STEPS}
        if ctx.judge is not None:
            found["static_path"] = judged_path(ctx.judge, paths["static"], ctx.judge.static_heads)
            found["motion_path"] = judged_path(ctx.judge, paths["motion"], ctx.judge.motion_heads)
        if ctx.facts.temporal_target == "location":  # the per-frame target is where the object is (Bouncing MNIST)
            found["motion_path_location_monotone"] = monotone_share(paths["motion"])
        return found
