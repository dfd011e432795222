"""Run logging: scalars to a CSV and TensorBoard, a loss-curve PNG from the CSV."""
from __future__ import annotations

import csv
import logging
from pathlib import Path

from inference.plotting import pyplot

log = logging.getLogger(__name__)


class RunLogger:
    """Appends scalar rows to ``metrics.csv`` (and TensorBoard if installed) in the run directory."""

    def __init__(self, run_dir: str | Path, resume_step: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.csv_path = self.run_dir / "metrics.csv"
        self._rows = self._read_rows(resume_step) if resume_step is not None else []
        self._fields: list[str] = list(self._rows[0]) if self._rows else []
        self._rewrite()
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=resume_step)
        except ImportError:  # tensorboard is a declared dependency; stay usable without it
            log.warning("tensorboard is not installed; scalars go to metrics.csv only")
            self._tb = None

    def _read_rows(self, resume_step: int) -> list[dict[str, str]]:
        """Rows up to the resumed step, dropping what the interrupted run logged after its checkpoint."""
        if not self.csv_path.is_file():
            return []
        with self.csv_path.open(newline="") as handle:
            return [row for row in csv.DictReader(handle) if int(row["step"]) <= resume_step]

    def _rewrite(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with self.csv_path.open("w", newline="") as handle:
            if self._fields:
                writer = csv.DictWriter(handle, fieldnames=self._fields)
                writer.writeheader()
                writer.writerows(self._rows)

    def log(self, step: int, scalars: dict[str, float]) -> None:
        """Record one row of scalars at ``step``."""
        row = {"step": step, **{k: f"{v:.6g}" for k, v in scalars.items()}}
        self._rows.append(row)
        if set(row) - set(self._fields):
            self._fields += [k for k in row if k not in self._fields]
            self._rewrite()
        else:
            with self.csv_path.open("a", newline="") as handle:
                csv.DictWriter(handle, fieldnames=self._fields).writerow(row)
        if self._tb is not None:
            for key, value in scalars.items():
                self._tb.add_scalar(key, value, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def plot_curves(csv_path: str | Path, png_path: str | Path) -> None:
    """Plot the ELBO and KL columns of a metrics CSV against step."""
    plt = pyplot()

    with Path(csv_path).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    kl_keys = [k for k in rows[0] if k.startswith("kl_")]
    fig, (ax_loss, ax_kl) = plt.subplots(1, 2, figsize=(10, 3.5))
    curves = {"annealed loss": [float(r["loss"]) for r in rows], "-ELBO": [-float(r["elbo"]) for r in rows]}
    for label, values in curves.items():
        ax_loss.plot(steps, values, label=label)
    settled = [v for values in curves.values() for v in values[len(values) // 10 :]]
    if len(settled) > 1 and max(settled) > min(settled):  # zoom past the first drop: the pixel constant hides the rest
        margin = 0.05 * (max(settled) - min(settled))
        ax_loss.set_ylim(min(settled) - margin, max(settled) + margin)
    ax_loss.set(xlabel="step", title="per sequence (lower is better)")
    ax_loss.legend()
    for key in kl_keys:
        ax_kl.plot(steps, [float(r[key]) for r in rows], label=key)
    ax_kl.set(xlabel="step", title="KL per sequence by latent group (nats)")
    ax_kl.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


EVAL_HEADLINES = (".disagreement", ".accuracy", ".d_score", ".static_feature_accuracy", ".eer_static", ".eer_dynamics")
PER_FACTOR_METRICS = ("consistency", "reconstruction_consistency", "swap_consistency")  # one share per factor: every column a headline


IMPUTATION_SHOWN = (1, 5, 10, 20)  # counts of missing frames drawn (with the largest logged), as DSA Fig. 8 reads


def _panel_and_label(key: str, largest_missing: int) -> tuple[str, str] | None:
    """Where an ``eval.*`` column of metrics.csv is drawn: (panel, line label), or None for a column not drawn."""
    parts = key.split(".")
    metric = parts[1]
    if key.startswith("eval.embedding_accuracy.accuracy."):  # VDSM Table 1: one panel per latent group, a line per factor
        return f"embedding_accuracy: {parts[3]}", ".".join(parts[4:])  # a factor's part keeps its name: action.motion
    if key.startswith("eval.imputation.missing_frames."):  # DSA Fig. 8 against training: a line per count of missing frames
        missing = int(parts[3])
        return ("imputation: wrong pixels of the missing frames", f"{missing} missing") if missing in (*IMPUTATION_SHOWN, largest_missing) else None
    if key.endswith(EVAL_HEADLINES) or metric in PER_FACTOR_METRICS:
        return metric, key.removeprefix(f"eval.{metric}.").removesuffix(".disagreement").removesuffix(".accuracy")
    return None


def eval_panels(rows: list[dict[str, str]]) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """The judged headline columns of metrics.csv rows as {panel: {label: [(step, value), ...]}}."""
    columns = [k for k in (rows[0] if rows else {}) if k.startswith("eval.")]
    largest_missing = max((int(k.rsplit(".", 1)[1]) for k in columns if k.startswith("eval.imputation.missing_frames.")), default=0)
    panels: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for key in columns:
        where = _panel_and_label(key, largest_missing)
        points = [(int(r["step"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]
        if where and points:
            panels.setdefault(where[0], {})[where[1]] = points
    return panels


def training_minutes(rows: list[dict[str, str]]) -> list[tuple[int, float]]:
    """(step, minutes of training up to it) from the logged s/step: judging time is left out, resumed runs add up."""
    elapsed, previous, found = 0.0, 0, [(0, 0.0)]
    for row in rows:
        step, seconds = int(row["step"]), row.get("sec_per_step")
        if seconds not in (None, "") and step > previous:
            elapsed += float(seconds) * (step - previous) / 60
            found.append((step, elapsed))
        previous = max(previous, step)
    return found


def plot_eval_curves(csv_path: str | Path, png_path: str | Path) -> bool:
    """The judged metrics logged by ``trainer.eval_every`` against step and training time, one panel per metric
    (False: none logged)."""
    plt = pyplot()
    import numpy as np

    with Path(csv_path).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    panels = eval_panels(rows)
    if not panels:
        return False
    steps, minutes = map(np.asarray, zip(*training_minutes(rows)))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.8), squeeze=False)
    for ax, (metric, curves) in zip(axes[0], panels.items()):
        for label, points in curves.items():
            ax.plot(*zip(*points), marker="o", markersize=3, label=label)
        ax.set(xlabel="step", title=metric)
        ax.legend(fontsize=7)
        if len(steps) > 1 and minutes[-1] > 0:  # top axis: training minutes (s/step as logged, judging excluded)
            top = ax.secondary_xaxis("top", functions=(lambda s: np.interp(s, steps, minutes), lambda m: np.interp(m, minutes, steps)))
            top.set_xlabel("training minutes", fontsize=8)
    fig.suptitle("judged on test sequences while training (trainer.eval_every)", fontsize=9)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return True
