"""Evaluate trained runs: `python evaluate.py run=<run dir>` (or a sweep directory) -> metrics.json, report.md, figures."""
from __future__ import annotations

import csv
import json
import logging
import sys
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig
from torch.utils.data import default_collate

from data import DataError
from inference.anneal import SiteGroups
from inference.build import load_run, preview_batch
from inference.errors import CheckpointError, ConfigError
from inference.figures import save_reconstruction_and_swap
from inference.latents import elbo_terms, reconstruct
from evaluation.judges import JudgeTooWeak, load_or_train_judge
from evaluation.protocols import DSA_TABLE1, dsa_table1, generation_scores, gw_disentanglement
from inference.trainer import CHECKPOINT_NAME

log = logging.getLogger("evaluate")


def find_runs(path: Path) -> list[Path]:
    """Run directories at or below ``path`` (a run holds checkpoints/checkpoint.pt)."""
    if (path / "checkpoints" / CHECKPOINT_NAME).is_file():
        return [path]
    runs = sorted(p.parent.parent for p in path.glob(f"**/checkpoints/{CHECKPOINT_NAME}"))
    if not runs:
        raise FileNotFoundError(f"no trained run under {path} (expected checkpoints/{CHECKPOINT_NAME})")
    return runs


def evaluate_run(run_dir: Path, cfg: DictConfig) -> dict[str, float]:
    """Test-set ELBO terms of one run, written to <run>/eval/ with a reconstruction + swap figure."""
    train_cfg, model, guide, dataset, state = load_run(run_dir, cfg.split, cfg.device)
    device = next(model.parameters()).device
    groups = SiteGroups(model.latent_groups)
    count = len(dataset) if cfg.max_sequences is None else min(cfg.max_sequences, len(dataset))
    torch.manual_seed(0)
    totals: dict[str, float] = {}
    for start in range(0, count, cfg.batch_size):
        x = default_collate([dataset[i] for i in range(start, min(start + cfg.batch_size, count))])["x"].to(device)
        terms = elbo_terms(model, guide, x, groups)
        terms["pixel_mse"] = (reconstruct(model, guide, x) - x).pow(2).mean().item()  # posterior-mean reconstruction
        for key, value in terms.items():
            totals[key] = totals.get(key, 0.0) + value * x.shape[0]
    metrics = {key: value / count for key, value in totals.items()}
    metrics.update(step=state["step"], sequences=count, split=cfg.split)
    metrics.update(paper_metrics(train_cfg, model, guide, groups, dataset, count, cfg, device))
    out = run_dir / "eval"
    out.mkdir(exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    preview = preview_batch(dataset)
    if preview is not None:
        save_reconstruction_and_swap(model, guide, groups, preview.to(device), out / "recon_swap.png")
    (out / "report.md").write_text(report(run_dir, train_cfg, metrics))
    log.info("%s: %s", run_dir, {k: float(f"{v:.5g}") if isinstance(v, float) else v for k, v in metrics.items()})
    return metrics


def paper_metrics(train_cfg: DictConfig, model, guide, groups: SiteGroups, dataset, count: int, cfg: DictConfig, device) -> dict:
    """The metrics the papers report for this run's data set (judged metrics need cfg.judges)."""
    data = train_cfg.data.name
    if data in ("sprites", "sprites_vdsm") and cfg.judges:
        judge, judge_report = load_or_train_judge("sprites", cache_dir=train_cfg.get("cache_dir"), dataset=data, **(cfg.judge_overrides or {}))
        judge.to(device)
        return {
            "judge": {"held_out_accuracy": {c: judge_report["test"][c] for c in ("clean", "blurred") if c in judge_report.get("test", {})},
                      "cache_entry": judge_report.get("cache_entry")},
            "dsa_table1": dsa_table1(model, guide, groups, dataset, judge, count, cfg.batch_size),
            "generation": generation_scores(model, judge, min(count, cfg.generated_sequences), dataset.seq_len, cfg.batch_size),
        }
    if data == "bouncing_mnist":
        return {"gw_disentanglement": gw_disentanglement(guide, groups, dataset, count, "digit", "location", cfg.batch_size, device)}
    return {}


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
        "![reconstructions and swaps](recon_swap.png)",
        "",
    ]
    return "\n".join(lines)


def paper_sections(metrics: dict) -> list[str]:
    """Markdown for the papers' metrics present in ``metrics``, with published numbers beside ours."""
    lines: list[str] = []
    if "dsa_table1" in metrics:
        lines += ["## DSA Table 1 (judge on fix-f / fix-z generations of the test sequences)", "",
                  "Judge accuracy on the held-out test characters (real frames, clean and 3x3-blurred): "
                  + "; ".join(f"{c}: " + ", ".join(f"{h} {v:.1%}" for h, v in heads.items()) for c, heads in metrics["judge"]["held_out_accuracy"].items()), "",
                  "| head | disagreement | KL-recon | KL-random | paper (factorised q): disagreement / KL-recon / KL-random |",
                  "| --- | --- | --- | --- | --- |"]
        for head, row in metrics["dsa_table1"].items():
            paper = DSA_TABLE1.get(head)
            published = f"{paper[0]:.2%} / {paper[1]:.4f} / {paper[2]:.4f}" if paper else "-"
            lines.append(f"| {head} | {row['disagreement']:.2%} | {row['kl_recon']:.4f} | {row['kl_random']:.4f} | {published} |")
        lines += ["", "## Generation from the prior (VDSM Table 2 protocol)", "", "| head | IS | H(y|x) | H(y) | classes |", "| --- | --- | --- | --- | --- |"]
        for head, row in metrics["generation"].items():
            lines.append(f"| {head} | {row['inception_score']:.3f} | {row['intra_entropy']:.3f} | {row['inter_entropy']:.3f} | {row['classes']} |")
        lines.append("")
    if "gw_disentanglement" in metrics:
        row = metrics["gw_disentanglement"]
        lines += ["## Grathwohl & Wilson eq. 19 (linear SVMs on encoded test frames; static = digit, temporal = 3x3 location)", "",
                  f"D-score {row['d_score']:.3f} (a_s {row['a_static']:.3f}, a_t {row['a_temporal']:.3f}); static-feature accuracy "
                  f"{row['static_feature_accuracy']:.3f}. Paper, Table 1 (4 features): ours 6.71-6.82, slow 4.70-6.38, VAE 1.08-1.71.", ""]
    return lines


def flatten(metrics: dict, prefix: str = "") -> dict:
    """Nested metric dicts as one level with dotted keys (for the comparison table)."""
    flat = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def write_table(rows: list[tuple[Path, dict]], out_dir: Path) -> None:
    """Comparison table across the runs of a sweep, as markdown and CSV."""
    rows = [(run_dir, flatten(metrics)) for run_dir, metrics in rows]
    keys = sorted({k for _, m in rows for k, v in m.items() if isinstance(v, float)})
    with (out_dir / "comparison.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["run", *keys])
        for run_dir, metrics in rows:
            writer.writerow([str(run_dir.relative_to(out_dir)), *[f"{metrics.get(k, float('nan')):.4f}" for k in keys]])
    lines = ["| run | " + " | ".join(keys) + " |", "|" + " --- |" * (len(keys) + 1)]
    lines += [f"| {run_dir.relative_to(out_dir)} | " + " | ".join(f"{m.get(k, float('nan')):.5g}" for k in keys) + " |" for run_dir, m in rows]
    (out_dir / "comparison.md").write_text("\n".join(lines) + "\n")


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    """Hydra entry point; one-line errors for bad input."""
    try:
        if not cfg.run:
            raise ConfigError("say which run to evaluate: python evaluate.py run=<run dir or sweep dir>")
        root = Path(cfg.run).expanduser()
        rows = [(run_dir, evaluate_run(run_dir, cfg)) for run_dir in find_runs(root)]
        if len(rows) > 1:
            write_table(rows, root)
            log.info("comparison table: %s", root / "comparison.md")
    except (ConfigError, DataError, FileNotFoundError, CheckpointError, JudgeTooWeak) as err:
        log.error("%s", err)
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
