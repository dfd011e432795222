"""Runs inside sweeps (`python train.py -m ...` on any Hydra launcher or sweeper): the objective a run returns, threads
per job, a failed job's record, and the sweep's own table (``sweep.md``, plus ``best_config.yaml`` after an Optuna
search), written by a Hydra callback once every job has ended."""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from inference.errors import ConfigError

log = logging.getLogger(__name__)
RESULT = "result.json"  # what a run returns: its objective's name and value, or why it failed
FINAL_KEYS = ("test_loss", "test_recon", "loss", "elbo", "recon")  # objectives every run has; plus kl_*, test_kl_*, eval.*


def check_objective(cfg: DictConfig) -> str:
    """The scalar a run returns to a sweeper (``objective``), refused in one line before training if no run can have it."""
    name = cfg.get("objective", "test_loss")
    if not isinstance(name, str) or not (name in FINAL_KEYS or name.startswith(("kl_", "test_kl_", "eval."))):
        raise ConfigError(f"objective must be one of {', '.join(FINAL_KEYS)}, kl_<group>, test_kl_<group> or eval.<judged metric>, got {name!r}")
    if name.startswith("eval.") and cfg.trainer.get("eval_every") is None:
        raise ConfigError(f"objective {name} is a judged metric: set trainer.eval_every (e.g. to trainer.max_steps)")
    return name


def objective_value(name: str, scalars: dict[str, float]) -> float:
    """The objective among the run's final scalars; one line naming the ones there are when it is missing."""
    if name not in scalars:
        raise ConfigError(f"objective {name} is not among this run's final scalars: {', '.join(sorted(scalars))}")
    return float(scalars[name])


def job_threads(threads: int | None, hydra_cfg: DictConfig | None) -> int | None:
    """Torch threads for this job: ``threads`` when set; under the joblib launcher the cores shared among its ``n_jobs``
    (so N parallel jobs do not oversubscribe the machine); otherwise None (torch's default)."""
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigError(f"threads must be null (torch's default) or an integer >= 1, got {threads!r}")
        return threads
    launcher = OmegaConf.select(hydra_cfg, "launcher._target_", default="") if hydra_cfg is not None else ""
    if "joblib" not in str(launcher):
        return None
    jobs = OmegaConf.select(hydra_cfg, "launcher.n_jobs", default=-1) or -1
    cores = os.cpu_count() or 1
    return max(1, cores // (cores if jobs < 0 else jobs))


def write_result(run_dir: Path, name: str, value: float | None, error: str | None = None) -> None:
    """``result.json`` of a run: its objective, or the one-line error that ended it (kept by sweeps for their table)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {"objective": name, "value": value, "status": "failed" if error else "ok", "error": error}
    (run_dir / RESULT).write_text(json.dumps(record) + "\n")


def read_result(job_dir: Path) -> dict[str, Any]:
    """A job's ``result.json``, or what its absence means (still running, or killed before it could write one)."""
    try:
        found = json.loads((job_dir / RESULT).read_text())
        return found if isinstance(found, dict) else {"status": "failed", "error": "unreadable result.json"}
    except FileNotFoundError:
        return {"status": "failed", "error": "no result.json: the job was killed or is still running"}
    except (OSError, ValueError) as err:
        return {"status": "failed", "error": f"unreadable result.json ({err})"}


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The sweep's job directories (each has Hydra's ``.hydra/overrides.yaml``), in job order."""
    found = [p for p in sweep_dir.iterdir() if (p / ".hydra" / "overrides.yaml").is_file()] if sweep_dir.is_dir() else []
    return sorted(found, key=lambda p: (int(p.name.split("-", 1)[0]) if p.name.split("-", 1)[0].isdigit() else math.inf, p.name))


def sweep_table(sweep_dir: Path, direction: str | None = None) -> tuple[str, Path | None]:
    """Markdown of the sweep: a row per job with the overrides that differ between jobs, status and objective; with a
    ``direction`` (minimize / maximize, an Optuna search) sorted best first. Returns it and the best job's directory."""
    jobs = job_dirs(sweep_dir)
    overrides = {job: [str(o) for o in OmegaConf.load(job / ".hydra" / "overrides.yaml")] for job in jobs}
    shared = set.intersection(*(set(o) for o in overrides.values())) if overrides else set()
    results = {job: read_result(job) for job in jobs}
    done = [job for job in jobs if results[job].get("status") == "ok" and isinstance(results[job].get("value"), (int, float))]
    best = None
    if direction in ("minimize", "maximize") and done:
        sign = 1 if direction == "minimize" else -1
        done.sort(key=lambda job: sign * results[job]["value"])
        best = done[0]
        jobs = done + [job for job in jobs if job not in done]
    names = {results[job].get("objective") for job in done} - {None}
    lines = [f"# Sweep {sweep_dir}", "", f"Objective: {', '.join(sorted(names)) or '-'}" + (f" ({direction}; best first)" if best else ""), "",
             "| job | overrides | status | objective |", "| --- | --- | --- | ---: |"]
    for job in jobs:
        result = results[job]
        changed = " ".join(o for o in overrides[job] if o not in shared) or "-"
        status = "ok" if result.get("status") == "ok" else f"failed: {result.get('error')}"
        value = f"{result['value']:.6g}" if job in done else "-"
        lines.append(f"| {job.name}{' (best)' if job == best else ''} | `{changed}` | {status} | {value} |")
    if shared:
        lines += ["", f"Shared overrides: `{' '.join(sorted(shared))}`"]
    return "\n".join(lines) + "\n", best


class SweepSummary(Callback):
    """Hydra callback (conf/train.yaml): after a multirun, ``sweep.md`` in the sweep dir, and for an Optuna search the
    best job's full config as ``best_config.yaml`` beside Optuna's ``optimization_results.yaml``."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        direction = OmegaConf.select(config, "hydra.sweeper.direction", default=None)
        direction = str(direction).lower().split(".")[-1] if direction is not None else None
        try:
            table, best = sweep_table(sweep_dir, direction)
            (sweep_dir / "sweep.md").write_text(table)
            if best is not None:
                shutil.copyfile(best / ".hydra" / "config.yaml", sweep_dir / "best_config.yaml")
        except OSError as err:  # the jobs' own outputs are intact; only the summary is missing
            log.error("sweep summary not written: %s", err)
            return
        log.info("sweep table: %s%s", sweep_dir / "sweep.md", f"; best config: {sweep_dir / 'best_config.yaml'}" if best else "")
        failed = [job.name for job in job_dirs(sweep_dir) if read_result(job).get("status") != "ok"]
        if failed:
            log.warning("%d of %d jobs failed (%s): their one-line errors are in sweep.md", len(failed), len(job_dirs(sweep_dir)), ", ".join(failed))
