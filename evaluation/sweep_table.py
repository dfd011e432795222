"""A sweep's comparison table from its runs' own logs: one row per run and judged step, with the judged metrics that
``trainer.eval_every`` wrote to each run's metrics.csv and the overrides that set the runs apart.

    python -m evaluation.sweep_table runs/repro/* --metrics dsa_table1 reconstruction_consistency

This is how RESULTS.md's sweep tables are made: the numbers are the runs' own, read back, not copied by hand.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Sequence

import yaml

from inference.logger import PER_FACTOR_METRICS

FRACTION_ENDINGS = ("disagreement", "accuracy")  # printed as percentages, as is every EER (a path part "eer_...")


def run_overrides(run: Path) -> list[str]:
    """The command-line overrides Hydra recorded for a run (``.hydra/overrides.yaml``), [] when there are none."""
    path = run / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    found = yaml.safe_load(path.read_text()) or []
    return [str(item) for item in found] if isinstance(found, list) else []


def judged_rows(run: Path, metrics: Sequence[str]) -> list[tuple[int, dict[str, float]]]:
    """(step, {metric key: value}) for every metrics.csv row holding ``eval.<metric>...`` values of ``metrics``."""
    path = run / "metrics.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    prefixes = tuple(f"eval.{metric}." for metric in metrics)
    found = []
    for row in rows:
        values = {k.removeprefix("eval."): float(v) for k, v in row.items() if k and k.startswith(prefixes) and v not in (None, "")}
        if values:
            found.append((int(row["step"]), values))
    return found


def shown(key: str, value: float) -> str:
    """A fraction as a percentage with one decimal, anything else with four significant digits."""
    parts = key.split(".")
    eer = any(part.startswith("eer_") for part in parts)  # eer_static, eer_dynamics and the by-content EERs
    if key.endswith(FRACTION_ENDINGS) or eer or parts[0] in PER_FACTOR_METRICS:
        return f"{100 * value:.1f}"
    return f"{value:.4g}"


def columns(rows: list[tuple[int, dict[str, float]]], metrics: Sequence[str]) -> dict[str, list[str]]:
    """Per metric, its keys in first-seen order, kept to scalars people compare (disagreement over KL-recon)."""
    keys: dict[str, list[str]] = {metric: [] for metric in metrics}
    for _, values in rows:
        for key in values:
            metric = key.split(".", 1)[0]
            if metric in keys and key not in keys[metric] and not key.endswith(("kl_recon", "kl_random")):
                keys[metric].append(key)
    return {metric: found for metric, found in keys.items() if found}


def column_names(metric: str, keys: Sequence[str]) -> list[str]:
    """Each key's first part after the metric (``body`` of ``body.disagreement``), or its whole path where that part repeats."""
    paths = [key.removeprefix(metric + ".") for key in keys]
    firsts = [path.split(".")[0] for path in paths]
    return [first if firsts.count(first) == 1 else path for first, path in zip(firsts, paths)]


def markdown(runs: Sequence[Path], metrics: Sequence[str]) -> str:
    """The table: run, the overrides not shared by every run, step, then one column per metric (heads joined by ' / ')."""
    overrides = {run: run_overrides(run) for run in runs}
    shared = set.intersection(*(set(o) for o in overrides.values())) if overrides else set()
    rows = {run: judged_rows(run, metrics) for run in runs}
    keys = columns([row for found in rows.values() for row in found], metrics)
    if not keys:
        raise ValueError(f"no judged metrics {', '.join(metrics)} in the metrics.csv of {len(runs)} runs (train with trainer.eval_every)")
    heads = {metric: " / ".join(column_names(metric, found)) for metric, found in keys.items()}
    lines = ["| run | overrides (not shared by every run) | step | " + " | ".join(f"{m}: {h}" for m, h in heads.items()) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in keys) + " |"]
    for run in runs:
        own = ", ".join(f"`{o}`" for o in overrides[run] if o not in shared) or "-"
        for step, values in rows[run]:
            cells = [" / ".join(shown(k, values[k]) if k in values else "-" for k in found) for found in keys.values()]
            lines.append(f"| {run.name} | {own} | {step} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the table of the given run directories."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (each with metrics.csv)")
    parser.add_argument("--metrics", nargs="+", default=["dsa_table1", "reconstruction_consistency"], help="eval.<metric> groups to show")
    args = parser.parse_args(argv)
    runs = [run for run in args.runs if (run / "metrics.csv").is_file()]
    try:
        print(markdown(runs, args.metrics), end="")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
