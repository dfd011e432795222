"""Grathwohl & Wilson eq. 19: the D-score of linear SVMs on encoded test frames (static target, temporal target)."""
from __future__ import annotations

from evaluation.plugins.base import Context, Metric
from evaluation.protocols import gw_disentanglement
from evaluation.published import GW_TABLE1


class GWDisentanglement(Metric):
    """Eq. 19 on the model's natural division (static / temporal groups), with the targets the data config declares."""

    name = "gw_disentanglement"
    order = 90

    def applies(self, ctx: Context) -> str | None:
        if ctx.facts.static_target and ctx.facts.temporal_target:
            return None
        return "the data config declares no eq. 19 targets (evaluation.static_target, evaluation.temporal_target)"

    def compute(self, ctx: Context) -> dict:
        found = gw_disentanglement(ctx.guide, ctx.groups, ctx.dataset, ctx.count, ctx.facts.static_target, ctx.facts.temporal_target,
                                   ctx.options.batch_size, ctx.device)
        return {**found, "targets": {"static": ctx.facts.static_target, "temporal": ctx.facts.temporal_target}}

    def published(self, metrics: dict) -> dict[str, float]:
        score = GW_TABLE1.get((metrics.get("model"), float(metrics.get("beta", 1.0)))) if metrics.get("data") == "bouncing_mnist" else None
        return {"gw_disentanglement.d_score": score} if score else {}

    def section(self, metrics: dict, paper: dict[str, float]) -> list[str]:
        row = metrics[self.name]
        cell = f"{paper['gw_disentanglement.d_score']:.2f}" if "gw_disentanglement.d_score" in paper else "-"
        targets = row.get("targets", {"static": "digit", "temporal": "location"})
        return [f"## Grathwohl & Wilson eq. 19 (linear SVMs on encoded test frames; static target {targets['static']}, temporal target "
                f"{targets['temporal']})", "",
                f"D-score {row['d_score']:.3f} (a_s {row['a_static']:.3f}, a_t {row['a_temporal']:.3f}); static-feature accuracy "
                f"{row['static_feature_accuracy']:.3f}. Paper, Table 1 (4 features, same model and beta): {cell} "
                "(all rows: hierarchical 6.71-6.82, slow 4.70-6.38, VAE 1.08-1.71).", ""]
