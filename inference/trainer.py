"""The one SVI trainer every model in the zoo uses: data -> annealed SVI step -> logs, pictures, checkpoints."""
from __future__ import annotations

import logging
import math
import warnings
from collections import defaultdict
from contextlib import contextmanager
import shutil
import signal
import time
from pathlib import Path
from typing import Any, Callable

import pyro
import torch
from pyro.infer import SVI, JitTraceMeanField_ELBO, TraceMeanField_ELBO
from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

from inference.anneal import Annealed, Annealer, SiteGroups, loss_terms, objective_groups
from inference.batch import collate, on_device, taken_keys
from inference.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from inference.distributed import Cluster, DataParallelStep, rank_seed
from data.errors import DataError
from data.random_frames import frames_seen_by
from inference.errors import CheckpointError, ConfigError, NonFiniteLoss
from inference.figures import save_reconstruction_and_swap
from inference.latents import elbo_terms
from inference.objective import ELBOWithTerms
from inference.logger import RunLogger, plot_curves, plot_eval_curves
from inference.precision import set_precision

log = logging.getLogger(__name__)
CHECKPOINT_NAME = "checkpoint.pt"


class BatchOrder:
    """Deterministic shuffled batches: the batch of a step depends only on (seed, step), so resuming needs no sampler state."""

    def __init__(self, dataset_size: int, batch_size: int, seed: int) -> None:
        if batch_size > dataset_size:
            raise ConfigError(f"batch_size {batch_size} is larger than the training set ({dataset_size} sequences)")
        self.batch_size, self.seed, self.size = batch_size, seed, dataset_size
        self.per_epoch = dataset_size // batch_size  # drop_last: fixed shapes (JIT-friendly)
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def indices(self, step: int) -> torch.Tensor:
        """Dataset indices of 1-based training ``step``."""
        epoch, position = divmod(step - 1, self.per_epoch)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.size, generator=generator)
        return self._perm[position * self.batch_size : (position + 1) * self.batch_size]


class Trainer:
    """Trains ``model``/``guide`` with SVI + TraceMeanField_ELBO under per-group KL annealing."""

    def __init__(
        self,
        model: nn.Module,
        guide: nn.Module,
        train_set: Dataset,
        optim: pyro.optim.PyroOptim,
        annealer: Annealer,
        run_dir: str | Path,
        *,
        max_steps: int,
        batch_size: int,
        seed: int = 0,
        device: str | torch.device = "cpu",
        log_every: int = 25,
        checkpoint_every: int = 250,
        image_every: int = 250,
        jit: bool = False,
        progress: bool = True,
        preview: torch.Tensor | None = None,
        config: dict[str, Any] | None = None,
        eval_every: int | None = None,
        evaluator: Callable[[nn.Module, nn.Module], dict[str, float]] | None = None,
        precision: str = "fp32",
        cluster: Cluster | None = None,
    ) -> None:
        counts = {"max_steps": max_steps, "batch_size": batch_size, "log_every": log_every, "checkpoint_every": checkpoint_every,
                  "image_every": image_every}
        for key, value in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"trainer.{key} must be an integer >= 1, got {value!r}")
        if eval_every is not None and (isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1):
            raise ConfigError(f"trainer.eval_every must be null (off) or an integer >= 1, got {eval_every!r}")
        if eval_every is not None and evaluator is None and (cluster is None or cluster.is_main):  # only rank 0 evaluates
            raise ConfigError("trainer.eval_every needs an evaluator (the judged metrics of the run's data set)")
        self.device = torch.device(device)
        self.model, self.guide = model.to(self.device), guide.to(self.device)
        try:
            set_precision(precision, self.device, self.model, self.guide)  # networks in bf16; ELBO terms stay float32
        except ValueError as err:
            raise ConfigError(f"trainer.{err}") from None
        self.groups = SiteGroups.of(model)
        try:
            weighted = objective_groups(model)  # the weight vector: latent groups, then the model's extra loss terms
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if annealer.group_names != weighted:
            raise ConfigError(f"the annealer's groups {annealer.group_names} are not the model's {weighted} (latent groups, then loss terms)")
        self.train_set, self.optim, self.annealer = train_set, optim, annealer
        self.run_dir = Path(run_dir)
        self.checkpoint_path = self.run_dir / "checkpoints" / CHECKPOINT_NAME
        self.max_steps, self.seed = max_steps, seed
        self.log_every, self.checkpoint_every, self.image_every = log_every, checkpoint_every, image_every
        self.progress, self.config = progress, config or {}
        self.eval_every, self.evaluator = eval_every, evaluator  # judged metrics into the log row of every eval_every-th step
        self.preview = preview.to(self.device) if preview is not None else None
        self.order = BatchOrder(len(train_set), batch_size, seed)
        self.cluster = cluster or Cluster()
        if self.cluster.parallel and (batch_size % self.cluster.world_size or jit):
            raise ConfigError(f"data parallelism over {self.cluster.world_size} processes needs trainer.batch_size divisible by it "
                              f"(got {batch_size}) and trainer.jit=false")
        self.takes = taken_keys(model, guide)  # batch keys beyond x that model or guide take
        if jit and self.takes:
            raise ConfigError(f"trainer.jit=true traces x only; the model or guide takes batch keys {list(self.takes)}: use trainer.jit=false")
        if jit and loss_terms(model):
            raise ConfigError(f"trainer.jit=true traces the ELBO only; model '{model.name}' has loss terms {list(loss_terms(model))}: "
                              "use trainer.jit=false")
        if loss_terms(model):
            self.elbo = ELBOWithTerms(model, guide, len(model.latent_groups))
        else:
            self.elbo = JitTraceMeanField_ELBO(ignore_jit_warnings=True) if jit else TraceMeanField_ELBO()
        pyro.clear_param_store()  # params live in the modules; a stale store would shadow them
        warnings.filterwarnings("ignore", message=".*was not registered in the param store because requires_grad=False")
        self.svi = SVI(Annealed(self.model, self.groups), Annealed(self.guide, self.groups), optim, loss=self.elbo)
        self.parallel_step = (DataParallelStep(Annealed(self.model, self.groups), Annealed(self.guide, self.groups), self.elbo, optim, self.cluster)
                              if self.cluster.parallel else None)
        self.step = 0
        self.last_good_step: int | None = None
        self._stop_requested = False
        self._running: list[float] = []  # per-sequence losses since the last log row (kept in checkpoints)

    # ----- state -----
    def state(self) -> dict[str, Any]:
        """Everything needed to continue exactly: params, optimiser, RNGs, step, config."""
        return {
            "step": self.step,
            "model": self.model.state_dict(),
            "guide": self.guide.state_dict(),
            "optim": self.optim.get_state(),
            "rng": rng_state(),
            "running_losses": list(self._running),
            "config": self.config,
        }

    def save(self) -> None:
        """Atomically write the checkpoint of the current step; refuses parameters that are NaN/Inf."""
        if not self._parameters_finite():
            self._check_finite(math.nan, self.step, what="parameters")
        save_checkpoint(self.checkpoint_path, self.state())
        self.last_good_step = self.step

    def restore(self, path: str | Path) -> None:
        """Load a checkpoint written by :meth:`save`; call before :meth:`fit`."""
        state = load_checkpoint(path, map_location=self.device)
        if state["step"] > self.max_steps:
            raise ConfigError(f"trainer.max_steps={self.max_steps} is below the step of the checkpoint {path} ({state['step']}); "
                              f"resume with trainer.max_steps > {state['step']}")
        try:
            self.model.load_state_dict(state["model"])
            self.guide.load_state_dict(state["guide"])
        except RuntimeError as err:  # size mismatch, missing or unexpected keys: weights of another model or size
            first = str(err).strip().splitlines()
            raise CheckpointError(f"checkpoint {path} does not fit the model and guide its config builds "
                                  f"({first[1].strip() if len(first) > 1 else first[0]})") from None
        pyro.clear_param_store()
        self.optim.set_state(state["optim"])
        set_rng_state(state["rng"])
        self._running = list(state.get("running_losses", []))
        if hasattr(self.model, "set_step"):
            self.model.set_step(state["step"])
        self.step = self.last_good_step = state["step"]

    # ----- loop -----
    def batch(self, step: int, shard: bool = False) -> torch.Tensor:
        """Training sequences of ``step`` on the device; ``shard``: only this rank's contiguous share of them."""
        return self.batch_with_keys(step, shard)[0]

    def batch_with_keys(self, step: int, shard: bool = False) -> tuple[torch.Tensor, dict[str, Any]]:
        """``batch`` and the other item keys the model or guide take (``takes``), collated on the device."""
        indices = self.order.indices(step)
        if shard:
            indices = indices.chunk(self.cluster.world_size)[self.cluster.rank]
        x, extras = collate([self.train_set[int(i)] for i in indices], self.takes)
        if not torch.isfinite(x).all():
            bad = sorted({int(indices[i]) for i in torch.nonzero(~torch.isfinite(x.flatten(1)).all(1)).flatten()})
            raise DataError(f"training sequences {bad[:5]} hold NaN or Inf values (step {step}); fix or remove them from the data")
        return on_device(x, extras, self.device)

    def fit(self) -> dict[str, float]:
        """Run SVI from the current step to ``max_steps``; returns the last logged scalars."""
        main = self.cluster.is_main  # rank 0 logs, draws, evaluates and saves; the other ranks only train
        logger = RunLogger(self.run_dir, resume_step=self.step if self.step else None) if main else None
        scalars: dict[str, float] = {}
        previous_handlers = self._install_stop_handlers()
        bar = tqdm(total=self.max_steps, initial=self.step, disable=not (self.progress and main), dynamic_ncols=True, desc="train")
        started, timed_steps = time.perf_counter(), 0
        try:
            while self.step < self.max_steps and not self._stop_requested:
                step = self.step + 1
                loss = self._svi_step(step)
                self._check_finite(loss, step)
                self.step = step
                self._running.append(loss / self.order.batch_size)
                timed_steps += 1
                self._stop_requested = self.cluster.any(self._stop_requested)  # every rank stops at the same step
                if not main:
                    self._running.clear()
                    bar.update(1)
                    continue
                evaluate = self.eval_every is not None and (step % self.eval_every == 0 or step == self.max_steps)
                if step % self.log_every == 0 or step == self.max_steps or evaluate:
                    scalars = self._log(logger, (time.perf_counter() - started) / timed_steps, evaluate)
                    bar.set_postfix({k: f"{v:.1f}" for k, v in scalars.items() if k in ("loss", "elbo") or k.startswith("kl_")})
                    started, timed_steps = time.perf_counter(), 0
                if step % self.image_every == 0 or step == self.max_steps:
                    self._draw(step)
                if step % self.checkpoint_every == 0 or step == self.max_steps:
                    self.save()
                    plot_curves(logger.csv_path, self.run_dir / "loss_curve.png")
                    if self.eval_every is not None:
                        plot_eval_curves(logger.csv_path, self.run_dir / "eval_curves.png")
                bar.update(1)
            if self._stop_requested and main:
                self.save()
                log.warning("stopped by signal at step %d; checkpoint saved to %s", self.step, self.checkpoint_path)
        finally:
            bar.close()
            if logger is not None:
                logger.close()
            self._restore_handlers(previous_handlers)
        return scalars

    def test_loss(self, test_set: Dataset, sequences: int) -> dict[str, float]:
        """Unannealed ELBO terms per sequence (the paper's objective, every weight 1) on the first ``sequences`` test
        sequences: ``test_loss`` (= -ELBO), ``test_recon`` and ``test_kl_<group>``, a sweep's default objective."""
        test_set = frames_seen_by(self.model, test_set)  # unordered models see as many frames as in training
        count, totals = min(sequences, len(test_set)), defaultdict(float)
        with self._diagnostics(), torch.no_grad():
            for start in range(0, count, self.order.batch_size):
                chunk = range(start, min(start + self.order.batch_size, count))
                x, extras = on_device(*collate([test_set[i] for i in chunk], self.takes), self.device)
                for key, value in elbo_terms(self.model, self.guide, x, self.groups, extras).items():
                    totals[key] += value * len(chunk)
        terms = {f"test_{key}": value / count for key, value in totals.items()}
        terms["test_loss"] = -terms.pop("test_elbo")
        return terms

    def _svi_step(self, step: int) -> float:
        """One SVI step; invalid distribution parameters caused by NaN/Inf weights count as a non-finite loss."""
        if hasattr(self.model, "set_step"):  # models with step-dependent settings (e.g. VDSM's temperature)
            self.model.set_step(step)
        try:
            if self.parallel_step is not None:
                pyro.set_rng_seed(rank_seed(self.seed, step, self.cluster.rank))
                x, extras = self.batch_with_keys(step, shard=True)
                return self.parallel_step(x, self.annealer.weights(step, self.device), **extras)
            x, extras = self.batch_with_keys(step)
            return self.svi.step(x, self.annealer.weights(step, self.device), **extras)
        except ValueError:
            if self._parameters_finite():
                raise
            return math.nan

    def _parameters_finite(self) -> bool:
        return all(torch.isfinite(p).all() for module in (self.model, self.guide) for p in module.parameters())

    def _check_finite(self, loss: float, step: int, what: str = "loss") -> None:
        if math.isfinite(loss):
            return
        where = (
            f"the latest good checkpoint is {self.checkpoint_path} (step {self.last_good_step}); "
            f"resume with `python train.py resume={self.run_dir}` after lowering optim.optim_args.lr or raising clip_norm"
            if self.last_good_step is not None
            else "no checkpoint was written yet; lower the learning rate and start again"
        )
        raise NonFiniteLoss(f"{what} became NaN/Inf at step {step}; stopped without saving: {where}")

    @contextmanager
    def _diagnostics(self):
        """Diagnostics and pictures: forked RNG (training stays repeatable), eval mode (batch-norm statistics untouched)."""
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            self.model.eval(), self.guide.eval()
            try:
                yield
            finally:
                self.model.train(), self.guide.train()

    def _log(self, logger: RunLogger, sec_per_step: float, evaluate: bool = False) -> dict[str, float]:
        with self._diagnostics():
            x, extras = self.batch_with_keys(self.step)
            terms = elbo_terms(self.model, self.guide, x, self.groups, extras)
            if evaluate:
                terms |= self._evaluate()
        scalars = {
            "loss": sum(self._running) / len(self._running),
            **terms,
            **{f"weight_{k}": v for k, v in self.annealer.as_dict(self.step).items()},
            "sec_per_step": sec_per_step,
        }
        logger.log(self.step, scalars)
        if self.step % self.log_every == 0:  # an extra row at a run's last step does not restart the window
            self._running = []
        return scalars

    def _evaluate(self) -> dict[str, float]:
        """The evaluator's judged metrics; every RNG (Python, NumPy, torch) is restored, so training stays repeatable."""
        saved = rng_state()
        started = time.perf_counter()
        try:
            found = self.evaluator(self.model, self.guide)
        finally:
            set_rng_state(saved)
        log.info("step %d: judged metrics in %.0f s: %s", self.step, time.perf_counter() - started,
                 {k.removeprefix("eval."): round(v, 4) for k, v in found.items()})  # every tracked scalar, as in metrics.csv
        return found

    def _draw(self, step: int) -> None:
        if self.preview is None:
            return
        images = self.run_dir / "images"
        images.mkdir(parents=True, exist_ok=True)
        with self._diagnostics():
            save_reconstruction_and_swap(self.model, self.guide, self.groups, self.preview, images / f"recon_swap_{step:06d}.png")
        shutil.copyfile(images / f"recon_swap_{step:06d}.png", self.run_dir / "recon_swap.png")  # the latest, easy to find

    # ----- signals: a kill between steps leaves a checkpoint of the last finished step -----
    def _install_stop_handlers(self) -> dict[int, Callable]:
        def request_stop(signum, frame):
            if self._stop_requested:  # second signal: give up at once
                raise KeyboardInterrupt
            log.warning("signal %d: finishing the current step, then saving a checkpoint", signum)
            self._stop_requested = True

        handlers = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                handlers[signum] = signal.signal(signum, request_stop)
            except ValueError:  # not the main thread
                pass
        return handlers

    @staticmethod
    def _restore_handlers(handlers: dict[int, Callable]) -> None:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
