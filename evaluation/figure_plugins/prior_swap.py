"""Grathwohl & Wilson Fig. 2 for every model with a static group: two latent draws from the prior, decoded, then
decoded again with their static and motion latents swapped ("the character identities swap, but their locations
remain the same", §4.3). Departure: whole sequences are drawn (the paper draws one frame each), so dynamics priors
that run over time (DSA, VDSM) are drawn as they generate. With a judge, the check is that each swap keeps the
static heads' classes of its static donor's decoding and the motion heads' classes of its motion donor's."""
from __future__ import annotations

import pyro.poutine as poutine
import torch

from evaluation.figure_plugins.base import Drawn, Figure, FigureContext
from evaluation.protocols import judged_classes
from evaluation.suite import EVAL_FRAMES
from inference.figures import save_rows
from inference.latents import UseMeans, group_latents, latent_sites

DRAWS = 64  # prior pairs the judged check averages over (the figure shows the first)


def prior_swap(model, groups, pairs: int, seq_len: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Latents of 2 * pairs prior draws, and the same with draw i's static latents exchanged with those of its partner
    (i + pairs, modulo 2 * pairs): swapped[i] has the partner's static latents and its own motion latents."""
    trace = poutine.trace(model).get_trace(None, batch_size=2 * pairs, seq_len=seq_len)
    drawn = group_latents(groups, {name: site["value"] for name, site in latent_sites(trace).items()}, groups.names)  # not x
    static = set(group_latents(groups, drawn, ("static",)))
    return drawn, {name: value.roll(pairs, 0) if name in static else value for name, value in drawn.items()}


@torch.no_grad()
def decode(model, latents: dict[str, torch.Tensor], seq_len: int) -> torch.Tensor:
    """The decoder's means for every latent of the model fixed to ``latents`` (count, T, ...)."""
    count = next(iter(latents.values())).shape[0]
    with UseMeans():
        return poutine.condition(model, data=latents)(None, batch_size=count, seq_len=seq_len)


def kept_share(judge, decoded: torch.Tensor, swapped: torch.Tensor, pairs: int) -> dict[str, float]:
    """Per judge head, the share of swaps given the class of the right donor: the partner's for static heads, its own for motion heads."""
    before, after = judged_classes(judge, decoded), judged_classes(judge, swapped)
    found = {}
    for head, classes in before.items():
        donor = classes.roll(pairs, 0) if head in judge.static_heads else classes
        found[head] = float((after[head] == donor).float().mean())
    return found


class PriorSwap(Figure):
    """G&W Fig. 2: two prior draws (top) and the same latents with static and motion parts exchanged (bottom)."""

    name = "prior_swap"
    order = 95
    needs_static_and_motion = True

    def draw(self, ctx: FigureContext) -> Drawn:
        seq_len = ctx.preview.shape[1]  # the frames shown (a Sprites sheet's 178 poses are shown at 8)
        pairs = max(1, min(DRAWS, EVAL_FRAMES // (2 * seq_len))) if ctx.judge is not None else 1
        with torch.no_grad():
            drawn, exchanged = prior_swap(ctx.model, ctx.groups, pairs, seq_len)
        decoded, swapped = decode(ctx.model, drawn, seq_len), decode(ctx.model, exchanged, seq_len)
        rows = [("prior draw A", decoded[0]), ("prior draw B", decoded[pairs]),
                ("static B\n+ motion A", swapped[0]), ("static A\n+ motion B", swapped[pairs])]
        save_rows(rows, ctx.out / "prior_swap.png", title="two prior draws, then their static latents exchanged (G&W Fig. 2); time →")
        checks = {"swaps_keep_donor": kept_share(ctx.judge, decoded, swapped, pairs), "pairs": pairs} if ctx.judge is not None else {}
        return Drawn({"prior_swap.png": "prior draws decoded, then with static and motion latents exchanged (G&W Fig. 2)"}, checks)
