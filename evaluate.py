"""Evaluate trained runs: `python evaluate.py run=<run dir>` (or a sweep directory) -> metrics.json, report.md, figures."""
from __future__ import annotations

import csv
import json
import logging
import sys
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from data import DataError
from evaluation.facts import data_facts
from evaluation.figure_plugins import FigureContext, draw_figures
from evaluation.judges import JudgeError, JudgeTooWeak
from evaluation.protocols import EvaluationError, batches
from evaluation.report import report
from evaluation.plugins import MetricOptions, published
from evaluation.suite import EVAL_FRAMES, batch_for, flatten, judge_for, load_judge, paper_metrics
from inference.anneal import SiteGroups
from inference.build import load_run, preview_batch
from inference.sweep import job_dirs, read_result
from inference.errors import CheckpointError, ConfigError
from inference.latents import elbo_terms, reconstruct
from inference.trainer import CHECKPOINT_NAME

log = logging.getLogger("evaluate")
# conf/evaluate.yaml: Hydra's log directory is <run>/eval_logs/..., or ./eval_logs/... while run is still unset
OmegaConf.register_new_resolver("run_or_here", lambda run: run if run else ".", replace=True)


def find_runs(path: Path) -> list[Path]:
    """Run directories at or below ``path`` (a run holds checkpoints/checkpoint.pt)."""
    if (path / "checkpoints" / CHECKPOINT_NAME).is_file():
        return [path]
    runs = sorted(p.parent.parent for p in path.glob(f"**/checkpoints/{CHECKPOINT_NAME}"))
    if not runs:
        raise FileNotFoundError(f"no trained run under {path} (expected checkpoints/{CHECKPOINT_NAME})")
    return runs


def evaluate_run(run_dir: Path, cfg: DictConfig) -> dict:
    """Every metric and figure that applies to one run, written to <run>/eval/ (metrics.json, report.md, figures)."""
    train_cfg, model, guide, dataset, state = load_run(run_dir, cfg.split, cfg.device)
    device = next(model.parameters()).device
    groups = SiteGroups.of(model)
    count = len(dataset) if cfg.max_sequences is None else min(cfg.max_sequences, len(dataset))
    batch_size = batch_for(dataset, cfg.batch_size)
    if batch_size < cfg.batch_size:
        log.info("batch_size %d -> %d: sequences of %d frames (at most %d frames a batch)", cfg.batch_size, batch_size, dataset.seq_len, EVAL_FRAMES)
    torch.manual_seed(0)
    metrics: dict = {**elbo_means(model, guide, groups, dataset, count, batch_size, device), "step": state["step"], "sequences": count,
                     "split": cfg.split, "model": model.name, "guide": train_cfg.guide.name, "data": train_cfg.data.name,
                     "beta": float(train_cfg.anneal.get("beta", 1.0))}
    judge = load_judge(train_cfg, cfg.judge_overrides, device) if cfg.judges else None
    if judge is not None:
        metrics["judge"] = judge[1]
    elif cfg.judges and isinstance(reason := judge_for(train_cfg.data), str):
        metrics["judge_skipped"] = reason  # the report says why no judged metric appears
    options = MetricOptions(batch_size, cfg.generated_sequences, cfg.fvd_sequences, cfg.fvd_extractor)
    metrics.update(paper_metrics(train_cfg, model, guide, groups, dataset, count, options, device, judge[0] if judge else None))
    out = run_dir / "eval"
    out.mkdir(exist_ok=True)
    draw_run_figures(run_dir, out, model, guide, groups, dataset, judge[0] if judge else None, train_cfg, metrics)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    (out / "report.md").write_text(report(run_dir, train_cfg, metrics))
    log.info("%s: %s", run_dir, {k: float(f"{v:.5g}") if isinstance(v, float) else v for k, v in metrics.items() if not isinstance(v, dict)})
    return metrics


@torch.no_grad()
def elbo_means(model, guide, groups: SiteGroups, dataset, count: int, batch_size: int, device) -> dict[str, float]:
    """Unannealed ELBO terms (analytic KL) and the posterior-mean reconstruction's squared error, averaged per sequence."""
    totals: dict[str, float] = {}
    for batch in batches(dataset, count, batch_size, device):
        x = batch["x"]
        terms = elbo_terms(model, guide, x, groups)
        terms["pixel_mse"] = (reconstruct(model, guide, x) - x).pow(2).mean().item()  # per pixel / feature
        for key, value in terms.items():
            totals[key] = totals.get(key, 0.0) + value * x.shape[0]
    return {key: value / count for key, value in totals.items()}


def draw_run_figures(run_dir: Path, out: Path, model, guide, groups: SiteGroups, dataset, judge, train_cfg: DictConfig, metrics: dict) -> None:
    """Every figure plug-in that applies (evaluation/figure_plugins/): captions under ``figures``, their own checks under ``figure_checks``."""
    preview = preview_batch(dataset)
    ctx = FigureContext(run_dir, out, model, guide, groups, dataset, None if preview is None else preview.to(next(model.parameters()).device),
                        data_facts(train_cfg.data), judge, metrics)
    metrics["figures"], checks = draw_figures(ctx)
    if checks:
        metrics["figure_checks"] = checks


def write_table(rows: list[tuple[Path, dict]], out_dir: Path, failed: dict[str, str] | None = None) -> None:
    """Comparison across the runs of a sweep: markdown with a row per quantity, a column per run and the paper's
    number last, then the sweep's failed jobs with their one-line errors; CSV with a row per run (plus a ``paper`` row)."""
    names = [str(run_dir.relative_to(out_dir)) for run_dir, _ in rows]
    flat = [flatten(metrics) for _, metrics in rows]
    keys = sorted({k for m in flat for k, v in m.items() if isinstance(v, float)})
    per_run = [published(metrics) for _, metrics in rows]
    paper_cell = {}
    for key in {k for found in per_run for k in found}:
        values = [f"{found[key]:.4g}" if key in found else "-" for found in per_run]
        paper_cell[key] = values[0] if len(set(values)) == 1 else " / ".join(values)  # one per run, in column order, when they differ
    with (out_dir / "comparison.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["run", "model", "guide", "data", *keys])
        for name, metrics in zip(names, flat):
            writer.writerow([name, metrics.get("model"), metrics.get("guide"), metrics.get("data"), *[f"{metrics.get(k, float('nan')):.6g}" for k in keys]])
        writer.writerow(["paper", "", "", "", *[paper_cell.get(k, "") for k in keys]])
    lines = ["| quantity | " + " | ".join(names) + " | paper |", "|" + " --- |" * (len(names) + 2)]
    lines += [f"| {field} | " + " | ".join(str(m.get(field, "")) for m in flat) + " | |" for field in ("model", "guide", "data", "step")]
    lines += [f"| {k} | " + " | ".join(f"{m.get(k, float('nan')):.5g}" for m in flat) + f" | {paper_cell.get(k, '')} |" for k in keys]
    if failed:
        lines += ["", "Failed jobs (nothing to evaluate):", "", *[f"- `{name}`: {error}" for name, error in sorted(failed.items())]]
    (out_dir / "comparison.md").write_text("\n".join(lines) + "\n")


def check_options(cfg: DictConfig) -> None:
    """Refuse bad evaluation options in one line, before any run is loaded."""
    if not cfg.run:
        raise ConfigError("say which run to evaluate: python evaluate.py run=<run dir or sweep dir>")
    if cfg.split != "test":
        raise ConfigError(f"split must be test: metrics are measured on held-out data, never on training sequences (got {cfg.split!r})")
    for key, low, nullable in (("batch_size", 1, False), ("generated_sequences", 2, False), ("fvd_sequences", 4, False), ("max_sequences", 4, True)):
        value = cfg[key]
        if not (nullable and value is None) and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            also = "null (the whole test split) or " if nullable else ""
            raise ConfigError(f"{key} must be {also}an integer >= {low}, got {value!r}")
    if cfg.fvd_extractor is not None and not Path(cfg.fvd_extractor).expanduser().is_file():
        raise ConfigError(f"fvd_extractor {cfg.fvd_extractor} does not exist (a TorchScript or .pt2 file)")


EVALUATION_ERRORS = (ConfigError, DataError, FileNotFoundError, CheckpointError, JudgeTooWeak, JudgeError, EvaluationError)


def evaluate_all(root: Path, cfg: DictConfig) -> list[str]:
    """Evaluate every run at or below ``root`` (and compare them when several); a run that fails is reported in one
    line and skipped, the others are still evaluated. Returns the failures."""
    rows, failures = [], []
    for run_dir in find_runs(root):
        try:
            rows.append((run_dir, evaluate_run(run_dir, cfg)))
        except EVALUATION_ERRORS as err:
            failures.append(f"{run_dir}: {err}")
            log.error("%s: %s", run_dir, err)
    failed = {job.name: str(result.get("error")) for job in job_dirs(root) if (result := read_result(job)).get("status") != "ok"
              and not (job / "checkpoints" / CHECKPOINT_NAME).is_file()}  # a sweep's jobs that ended before a checkpoint
    if len(rows) > 1 or (rows and failed):
        write_table(rows, root, failed)
        log.info("comparison table: %s", root / "comparison.md")
    return failures


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    """Hydra entry point; one-line errors for bad input (exit 2)."""
    try:
        check_options(cfg)
        failures = evaluate_all(Path(cfg.run).expanduser(), cfg)
    except EVALUATION_ERRORS as err:
        failures = [str(err)]
    if failures:
        for failure in failures:
            print(f"error: {failure}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
