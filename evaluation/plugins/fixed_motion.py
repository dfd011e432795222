"""The later papers' Sprites protocol (S3VAE, C-DSVAE, SKD, SPYL, DBSE): keep the motion latents, draw the static latent, judge the action."""
from __future__ import annotations

from evaluation.plugins.base import Context, Metric
from evaluation.protocols import fixed_motion_scores
from evaluation.published import fixed_motion_rows

SCORES = ("accuracy", "inception_score", "intra_entropy", "inter_entropy")


class FixedMotion(Metric):
    """Our row per motion head, then the published rows of other models on the same data set."""

    name = "fixed_motion"
    needs_judge = True
    order = 60

    def compute(self, ctx: Context) -> dict:
        return fixed_motion_scores(ctx.model, ctx.guide, ctx.groups, ctx.dataset, ctx.judge, ctx.count, ctx.options.batch_size)

    def published(self, metrics: dict) -> dict[str, float]:
        found: dict[str, float] = {}
        for row in (r for r in fixed_motion_rows(metrics.get("data")) if r.model is not None and r.model == metrics.get("model")):
            found |= {f"fixed_motion.action.{score}": value for score in SCORES if (value := getattr(row, score)) is not None}
        return found

    def section(self, metrics: dict, paper: dict[str, float]) -> list[str]:
        lines = ["## Fixed motion, static from the prior (the later papers' Sprites protocol: S3VAE, C-DSVAE, SKD, SPYL, DBSE)", "",
                 "The motion latents of each test sequence are kept, the static latent is drawn from the prior, and the judge classifies "
                 "the generated motion against the sequence's true label, on a class-balanced test set; natural logs (H(y) <= ln K).", "",
                 "| method | head | sequences | accuracy | IS | H(y|x) | H(y) | source |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for head, row in metrics[self.name].items():
            lines.append(f"| ours ({metrics.get('model')}, {metrics.get('guide')} q) | {head} ({row['classes']} classes) | {row['sequences']} | "
                         f"{row['accuracy']:.2%} | {row['inception_score']:.3f} | {row['intra_entropy']:.3f} | {row['inter_entropy']:.3f} | this run |")
        for row in fixed_motion_rows(metrics.get("data")):
            spread = " | ".join("-" if v is None else f"{v:{spec}}" for v, spec in ((row.inception_score, ".3f"), (row.intra_entropy, ".3g"), (row.inter_entropy, ".3f")))
            lines.append(f"| {row.method} | action (9 classes) | - | {row.accuracy:.2%} | {spread} | {row.source} |")
        return lines + [""]
