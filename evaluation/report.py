"""report.md of an evaluated run: the ELBO terms, every paper metric that applies beside the published number, figures."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from evaluation.plugins import METRICS, published
from evaluation.suite import flatten


def report(run_dir: Path, train_cfg: DictConfig, metrics: dict) -> str:
    """A short human-readable report of one run."""
    model = train_cfg.model._target_.rsplit(".", 1)[-1]
    lines = [
        f"# Evaluation of `{run_dir}`",
        "",
        f"Model {model}, guide `{train_cfg.guide.name}`, data `{train_cfg.data.name}`, likelihood `{train_cfg.model.get('likelihood', '?')}`, "
        f"seed {train_cfg.seed}, trained {metrics['step']} steps.",
        "",
        f"Values on {metrics['sequences']} {metrics['split']} sequences: ELBO terms per sequence in nats (analytic KL, unannealed, "
        "one posterior sample); pixel_mse is the mean squared error per pixel of the posterior-mean reconstruction.",
        "",
        "| quantity | value |",
        "| --- | --- |",
        *[f"| {k} | {v:.5g} |" for k, v in metrics.items() if isinstance(v, float)],
        "",
        *paper_sections(metrics),
        *[f"Not computed: {name} ({reason})." for name, reason in metrics.get("not_applicable", {}).items()],
        "",
        *figure_section(metrics.get("figures", {}), metrics.get("figure_checks", {})),
    ]
    return "\n".join(lines)


def paper_sections(metrics: dict) -> list[str]:
    """Markdown for the papers' metrics present in ``metrics`` (each plug-in's section, in report order), with published numbers beside ours."""
    lines: list[str] = []
    if "judge_skipped" in metrics:
        lines += [f"No judged metrics: {metrics['judge_skipped']}.", ""]
    if "judge" in metrics:
        judge = metrics["judge"]
        lines += [f"## Judge `{judge['name']}`", "", "Accuracy on the held-out test split (real data; clean and 3x3-blurred where measured): "
                  + "; ".join(f"{c}: " + ", ".join(f"{h} {v:.1%}" for h, v in heads.items()) for c, heads in judge["held_out_accuracy"].items()), ""]
    paper = published(metrics)
    for name, metric in METRICS.items():
        if name in metrics:
            lines += metric.section(metrics, paper)
    return lines


PICTURES = (".png", ".gif", ".jpg", ".jpeg", ".svg")  # files a markdown viewer shows inline


def figure_section(figures: dict[str, str], checks: dict[str, dict] | None = None) -> list[str]:
    """Every figure with its caption, then what the figures measured about themselves; figures that do not apply say why."""
    lines = ["## Figures", ""]
    for name, caption in figures.items():
        if name.startswith("-"):
            lines += [f"_{caption}_", ""]
        elif name.lower().endswith(PICTURES):
            lines += [f"**{caption}**", "", f"![{caption}]({name})", ""]
        else:  # sound and other files: a link, not an image
            lines += [f"- [{name}]({name}): {caption}", ""]
    for name, found in (checks or {}).items():
        lines += [f"What the `{name}` figure checks about itself:", ""]
        lines += [f"- {key}: {value:.3f}" if isinstance(value, float) else f"- {key}: {value}" for key, value in flatten(found).items()]
        lines += [""]
    return lines
