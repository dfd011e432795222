"""VDSM Table 1 (also C-DSVAE): how well each latent group's posterior-mean embedding predicts each declared factor."""
from __future__ import annotations

from evaluation.plugins.base import Context, Metric
from evaluation.protocols import embedding_accuracy
from evaluation.published import VDSM_TABLE1


class EmbeddingAccuracy(Metric):
    """Linear SVMs on each group's embedding, trained on half the identities and scored on the others (data config: factors, identity)."""

    name = "embedding_accuracy"
    order = 70

    def applies(self, ctx: Context) -> str | None:
        return None if ctx.facts.factors else "the data config declares no per-sequence factors (evaluation.factors)"

    def compute(self, ctx: Context) -> dict:
        return embedding_accuracy(ctx.guide, ctx.groups, ctx.dataset, ctx.count, ctx.options.batch_size, ctx.device,
                                  factors=ctx.facts.factors, identity=ctx.facts.identity)

    def published(self, metrics: dict) -> dict[str, float]:
        if metrics.get("model") != "vdsm":  # VDSM's "ID" embedding is its static s, its "dynamics embedding" its action latent d
            return {}
        found: dict[str, float] = {}
        for factor, (_, identity, dynamics) in VDSM_TABLE1.get(metrics.get("data"), {}).items():
            found |= {f"embedding_accuracy.accuracy.static.{factor}": identity, f"embedding_accuracy.accuracy.action.{factor}": dynamics}
        return found

    def section(self, metrics: dict, paper: dict[str, float]) -> list[str]:
        found = metrics[self.name]
        consistency = metrics.get("consistency", {})
        groups = list(found["accuracy"])
        split = "character" if found.get("split_by") in (None, "character") else found["split_by"]
        lines = ["## VDSM Table 1 (linear SVM on each latent group's posterior-mean embedding, test sequences split by " + split + ")", "",
                 f"Trained on {found['sequences']['train']} sequences, tested on {found['sequences']['test']} of other {split}s; "
                 f"per-frame latents {found['pooling']}ed over time. Acc. Cons. (VDSM §4): the judge's class of a sampled sequence that keeps the "
                 "factor's latent (static for attributes, motion for the action) and draws the other equals its class of the real sequence.", "",
                 "| factor | Acc. Cons. | " + " | ".join(f"{g} emb. acc." for g in groups) + " | chance | paper: Acc. Cons. / ID / Dyn. |",
                 "|" + " --- |" * (len(groups) + 4)]
        for factor in dict.fromkeys([*found["chance"], *consistency]):  # scored factors, then any only Acc. Cons. has
            keys = [f"consistency.{factor}", *[f"embedding_accuracy.accuracy.{g}.{factor}" for g in groups]]
            published_row = " / ".join(f"{paper[k]:.2%}" for k in keys if k in paper) or "-"
            cons = f"{consistency[factor]:.2%}" if factor in consistency else "-"
            accs = " | ".join(f"{found['accuracy'][g][factor]:.2%}" if factor in found["accuracy"][g] else "-" for g in groups)
            chance = f"{found['chance'][factor]:.2%}" if factor in found["chance"] else "-"
            lines.append(f"| {factor} | {cons} | {accs} | {chance} | {published_row} |")
        return lines + ["", *[f"Not scored: {factor} ({reason})." for factor, reason in found["skipped"].items()], ""]
