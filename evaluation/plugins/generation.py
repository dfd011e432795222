"""Generation from the prior (VDSM Table 2 protocol): the judge's IS, H(y|x) and H(y) of sequences drawn from the model."""
from __future__ import annotations

from evaluation.plugins.base import Context, Metric
from evaluation.protocols import generation_scores


class Generation(Metric):
    """Prior samples scored by the judge; not tracked while training (it draws new sequences, not the test split's)."""

    name = "generation"
    needs_judge = True
    tracked = False
    order = 20

    def compute(self, ctx: Context) -> dict:
        return generation_scores(ctx.model, ctx.judge, ctx.options.generated_sequences, ctx.dataset.seq_len, ctx.options.batch_size)

    def section(self, metrics: dict, paper: dict[str, float]) -> list[str]:
        lines = ["## Generation from the prior (VDSM Table 2 protocol)", "", "| head | IS | H(y|x) | H(y) | classes |", "| --- | --- | --- | --- | --- |"]
        for head, row in metrics[self.name].items():
            lines.append(f"| {head} | {row['inception_score']:.3f} | {row['intra_entropy']:.3f} | {row['inter_entropy']:.3f} | {row['classes']} |")
        return lines + [""]
