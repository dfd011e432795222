"""VDSM §4's accuracy consistency: the judge's class of a sampled sequence that keeps one factor's latent and draws the other."""
from __future__ import annotations

from evaluation.plugins.base import Context, Metric
from evaluation.protocols import accuracy_consistency
from evaluation.published import VDSM_TABLE1


class AccuracyConsistency(Metric):
    """Acc. Cons. per judge head; shown as a column of VDSM Table 1 when the embedding accuracy is there too."""

    name = "consistency"
    needs_judge = True
    order = 30

    def compute(self, ctx: Context) -> dict:
        return accuracy_consistency(ctx.model, ctx.guide, ctx.groups, ctx.dataset, ctx.judge, ctx.count, ctx.options.batch_size)

    def published(self, metrics: dict) -> dict[str, float]:
        if metrics.get("model") != "vdsm":
            return {}
        return {f"consistency.{factor}": row[0] for factor, row in VDSM_TABLE1.get(metrics.get("data"), {}).items()}

    def section(self, metrics: dict, paper: dict[str, float]) -> list[str]:
        if "embedding_accuracy" in metrics:  # a column of the VDSM Table 1 section
            return []
        return ["## Accuracy consistency (VDSM §4 protocol: the judge's class of a sampled sequence that keeps the factor's latent "
                "and draws the other, against its class of the real sequence)", "",
                ", ".join(f"{head} {value:.2%}" for head, value in metrics[self.name].items()), ""]
