"""Train a model of the zoo: `python train.py model=dsa guide=full` (Hydra composes conf/train.yaml)."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

if __name__ == "__main__":  # config names are checked before torch is imported: a typo is answered at once
    from inference.cli import exit_on_unknown_choices

    exit_on_unknown_choices(sys.argv[1:], Path(__file__).resolve().parent / "conf")

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from data import DataError
from inference.build import build_data, build_trainer, freeze, load_weights, preview_batch
from inference.checkpoint import load_checkpoint, run_config
from inference.cli import STAGED_CONFIG, discard_rank_outputs, holds_run, register_resolvers, remove_failed_start
from inference.distributed import Cluster, quiet_other_ranks, start, stop
from inference.errors import CheckpointError, ConfigError, NonFiniteLoss
from inference.sweep import check_objective, job_threads, objective_value, write_result
from inference.trainer import CHECKPOINT_NAME

log = logging.getLogger("train")
USER_ERRORS = (ConfigError, DataError, NonFiniteLoss, CheckpointError, InstantiationException, OSError)  # OSError: disk full, no permission, missing file
RESUME_OVERRIDABLE = ("trainer.max_steps", "trainer.progress", "device")


register_resolvers()  # conf/train.yaml: where a run, and a resumed run, writes
FITTING: list[bool] = []  # set once training starts: a failure before it leaves no stub directory behind


def run(cfg: DictConfig, run_dir: Path, resume_from: Path | None = None, cluster: Cluster | None = None) -> dict[str, float]:
    """Train per ``cfg`` into ``run_dir``; continue from a checkpoint when ``resume_from`` is given; ``cluster``: this
    process's rank when several train one model (data parallel)."""
    if cfg.get("stages"):
        return run_stages(cfg, run_dir, cluster)
    train_set, test_set = build_data(cfg, "train"), build_data(cfg, "test")
    log.info("data: %d training / %d test sequences of %s", len(train_set), len(test_set), tuple(train_set.frame_shape))
    trainer = build_trainer(cfg, run_dir, train_set, preview_batch(test_set), cluster)
    if resume_from is not None:
        trainer.restore(resume_from)
        log.info("resumed from %s at step %d", resume_from, trainer.step)
    FITTING.append(True)
    return finish(trainer, test_set, cfg, run_dir)


def finish(trainer, test_set, cfg: DictConfig, run_dir: Path) -> dict[str, float]:
    """Train to the end, then (rank 0) the unannealed test ELBO: the final scalars a sweep's objective is read from."""
    scalars = trainer.fit()
    if trainer.cluster.is_main:
        scalars = {**scalars, **trainer.test_loss(test_set, cfg.trainer.eval_sequences)}
    if trainer.step < trainer.max_steps:  # a stop signal: the sweep's table must not take this for a finished run
        scalars["stopped_at"] = float(trainer.step)
    log.info("finished at step %d: %s", trainer.step, {k: round(v, 3) for k, v in scalars.items()})
    log.info("outputs in %s (checkpoints/, metrics.csv, loss_curve.png, recon_swap.png)", run_dir)
    return scalars


STAGE_KEYS = ("name", "init_from", "freeze")


def run_stages(cfg: DictConfig, run_dir: Path, cluster: Cluster | None = None) -> dict[str, float]:
    """Multi-stage training (e.g. VDSM §3.2): each stage overrides parts of ``cfg``, trains into ``run_dir/<name>``,
    may start from an earlier stage's weights (``init_from``) and freeze modules by path (``freeze``).

    A stage that already has a checkpoint resumes from it (a finished stage is skipped), so running the same
    command again, or ``resume=<run dir>``, continues a killed staged run.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, run_dir / STAGED_CONFIG, resolve=True)
    base = OmegaConf.create({k: v for k, v in OmegaConf.to_container(cfg).items() if k != "stages"})
    train_set, test_set = build_data(cfg, "train"), build_data(cfg, "test")
    scalars: dict[str, float] = {}
    for stage in cfg.stages:
        stage_cfg = OmegaConf.merge(base, {k: v for k, v in stage.items() if k not in STAGE_KEYS})
        stage_dir = run_dir / stage.name
        trainer = build_trainer(stage_cfg, stage_dir, train_set, preview_batch(test_set), cluster)
        modules = {"model": trainer.model, "guide": trainer.guide}
        checkpoint = stage_dir / "checkpoints" / CHECKPOINT_NAME
        if checkpoint.is_file():
            trainer.restore(checkpoint)
            log.info("stage %s: resumed at step %d", stage.name, trainer.step)
        elif stage.get("init_from"):
            report = load_weights(modules, run_dir / stage.init_from / "checkpoints" / CHECKPOINT_NAME)
            log.info("stage %s: weights from stage %s; new in this stage: %s", stage.name, stage.init_from,
                     sorted({k.split(".")[0] for k in report["model_new"] + report["guide_new"]}))
        frozen = freeze(modules, list(stage.get("freeze") or []))
        log.info("stage %s: %d frozen parameter tensors (%s)", stage.name, len(frozen), ", ".join(stage.get("freeze") or []) or "none")
        FITTING.append(True)
        scalars = finish(trainer, test_set, stage_cfg, stage_dir)
    return scalars


def resumed_config(cfg: DictConfig) -> tuple[DictConfig, Path, Path]:
    """The checkpoint's own config (plus the few overrides allowed on resume), its run dir and checkpoint path."""
    run_dir = Path(cfg.resume).expanduser()
    checkpoint = run_dir / "checkpoints" / CHECKPOINT_NAME
    if not holds_run(run_dir):
        raise FileNotFoundError(f"resume={cfg.resume}: no run there (no checkpoints/{CHECKPOINT_NAME} or {STAGED_CONFIG})")
    if (run_dir / STAGED_CONFIG).is_file() and not checkpoint.is_file():  # a staged run resumes stage by stage
        saved = OmegaConf.load(run_dir / STAGED_CONFIG)
    else:
        saved = OmegaConf.create(run_config(load_checkpoint(checkpoint), checkpoint))
    overridden = {o.split("=", 1)[0].lstrip("+~") for o in HydraConfig.get().overrides.task}
    for key in RESUME_OVERRIDABLE:
        if key in overridden:
            OmegaConf.update(saved, key, OmegaConf.select(cfg, key))
    ignored = overridden - set(RESUME_OVERRIDABLE) - {"resume"}
    if ignored:
        log.warning("resume uses the checkpoint's config; ignoring overrides %s (allowed: %s)", sorted(ignored), RESUME_OVERRIDABLE)
    saved.resume = str(run_dir)
    return saved, run_dir, checkpoint


def train(cfg: DictConfig, out: Path, config_record: str | None, cluster_box: list[Cluster]) -> float | None:
    """Check, place (rank 0's run dir for every rank) and train one run; its objective (rank 0), for sweepers."""
    threads = job_threads(cfg.get("threads"), HydraConfig.get() if HydraConfig.initialized() else None)
    if threads is not None:
        torch.set_num_threads(threads)
    objective = check_objective(cfg)
    run_dir, checkpoint = out, None
    if cfg.resume:
        cfg, run_dir, checkpoint = resumed_config(cfg)
    cluster, cfg.device = start(cfg.trainer.get("distributed", "auto"), cfg.device)
    cluster_box.append(cluster)
    quiet_other_ranks(cluster)
    main_dir, main_record = cluster.broadcast((str(run_dir), config_record))  # torchrun: each rank's Hydra stamped its own time
    run_dir = Path(main_dir)
    if not cluster.is_main:
        discard_rank_outputs(out, config_record, run_dir, main_record)
    if checkpoint is None and holds_run(run_dir):
        raise ConfigError(f"{run_dir} already holds a run; continue it with resume={run_dir}, or choose another hydra.run.dir")
    scalars = run(cfg, run_dir, resume_from=checkpoint if checkpoint is not None and checkpoint.is_file() else None, cluster=cluster)
    stop(cluster)
    if not cluster.is_main:
        return None
    value = objective_value(objective, scalars)
    stopped = f"stopped by a signal at step {int(scalars['stopped_at'])}; resume={run_dir} continues it" if "stopped_at" in scalars else None
    write_result(run_dir, objective, value, stopped)
    return None if stopped else value


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point: one-line errors for bad input (exit 2; in a sweep the job is marked failed and the others go
    on), the run's objective for sweepers."""
    hydra_cfg = HydraConfig.get()
    out, config_record = Path(hydra_cfg.runtime.output_dir), hydra_cfg.output_subdir  # read once: they depend on the disk
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    FITTING.clear()
    cluster_box: list[Cluster] = []
    try:
        return train(cfg, out, config_record, cluster_box)
    except (*USER_ERRORS, OmegaConfBaseException) as err:
        message = f"config: {str(err).splitlines()[0]}" if isinstance(err, OmegaConfBaseException) else str(err)
        log.error("%s", message)
        if sweeping:  # the sweep goes on; its table (sweep.md) shows this line
            write_result(out, str(cfg.get("objective")), None, message)
            return None
        print(f"error: {message}", file=sys.stderr)
        if not FITTING:
            remove_failed_start(out, config_record)
        sys.exit(2)
    except Exception as err:  # noqa: BLE001 - a crash: one process alone shows the traceback; a sweep records it and goes on
        if not sweeping:
            raise
        log.exception("job failed")
        write_result(out, str(cfg.get("objective")), None, f"{type(err).__name__}: {(str(err).splitlines() or [''])[0]}")
        return None
    finally:
        if cluster_box:
            stop(cluster_box[0], wait=False)  # after a failure the other ranks may be inside a collective: no barrier


if __name__ == "__main__":
    main()
