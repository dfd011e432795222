"""One run on several processes: data parallelism with torch's DistributedDataParallel (torchrun, or SLURM tasks).

The all-reduce is DDP's own: the annealed model and guide are wrapped as Pyro's ``ELBOModule`` (an ``nn.Module`` whose
forward is the differentiable ELBO loss, as Pyro's ``examples/svi_lightning.py`` does) and that module in DDP. The
optimiser stays Pyro's (the same ``PyroOptim`` and checkpoint state as one process), stepped on the parameters the
step's trace touched. What a model must respect to stay correct under data parallelism: see ARCHITECTURE.md.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from pyro import poutine
from pyro.infer.util import zero_grads
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from inference.errors import ConfigError

log = logging.getLogger(__name__)
SETTINGS = ("auto", True, False)


@dataclass(frozen=True)
class Cluster:
    """This process's place among the processes that train one model (rank 0 of 1 when alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, draws, evaluates and writes checkpoints."""
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.world_size > 1

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on any (e.g. a stop signal that reached one rank first)."""
        if not self.parallel:
            return flag
        found = torch.tensor([float(flag)])
        dist.all_reduce(found, op=dist.ReduceOp.MAX)
        return bool(found.item())

    def total(self, value: float) -> float:
        """Sum of ``value`` over the ranks (float64 on the CPU: gloo and nccl alike accept it after a copy)."""
        if not self.parallel:
            return value
        found = torch.tensor([value], dtype=torch.float64, device=_collective_device())
        dist.all_reduce(found)
        return float(found.item())

    def broadcast(self, value):
        """Rank 0's ``value`` on every rank (a picklable object, e.g. the run directory)."""
        if not self.parallel:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.parallel:
            dist.barrier()


def _collective_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def launched_in_parallel() -> bool:
    """torchrun (or a SLURM job with several tasks) started this process as one of several."""
    slurm_tasks = int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "SUBMITIT_EXECUTOR" in os.environ
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 or slurm_tasks


def start(setting, device: str) -> tuple[Cluster, str]:
    """Join the process group when ``trainer.distributed`` asks for it (``auto``: when launched by torchrun or as SLURM
    tasks); returns this process's cluster and its device (``cuda`` becomes ``cuda:<local rank>``)."""
    if setting not in SETTINGS:
        raise ConfigError(f"trainer.distributed must be auto, true or false, got {setting!r}")
    wanted = launched_in_parallel() if setting == "auto" else setting
    if not wanted:
        return Cluster(), device
    if "WORLD_SIZE" not in os.environ and "SUBMITIT_EXECUTOR" in os.environ:  # submitit's SLURM tasks: its own helper sets the env
        from submitit.helpers import TorchDistributedEnvironment

        TorchDistributedEnvironment().export()
    if "WORLD_SIZE" not in os.environ:
        raise ConfigError("trainer.distributed=true needs a launcher that starts the processes: "
                          "torchrun --nproc_per_node=N train.py ... (or SLURM tasks through hydra/launcher=submitit_slurm)")
    cuda = str(device).startswith("cuda")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    cluster = Cluster(dist.get_rank(), dist.get_world_size(), local_rank)
    log.info("data parallel: rank %d of %d (%s)", cluster.rank, cluster.world_size, dist.get_backend())
    return cluster, device


def stop(cluster: Cluster, wait: bool = True) -> None:
    """Leave the process group (a no-op when already left or never joined); ``wait``: first for every rank to get here."""
    if cluster.parallel and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def rank_seed(seed: int, step: int, rank: int) -> int:
    """Seed of ``rank``'s random stream at ``step``: a pure function, so every rank draws its own latents and a resumed
    run (of any number of processes) needs no saved RNG state."""
    return (seed * 1_000_003 + step * 65_537 + rank * 7_919) % 2**32


class DataParallelStep:
    """One SVI step on this rank's share of the batch, gradients summed over the ranks by DDP.

    DDP averages gradients over ranks; the loss is scaled by the world size first so the update equals one process's
    on the whole batch (the ELBO is a sum over sequences): sum over ranks of each half-batch's gradient.
    """

    def __init__(self, model: nn.Module, guide: nn.Module, elbo, optim, cluster: Cluster) -> None:
        self.module = elbo(model, guide)  # pyro.infer.elbo.ELBOModule: forward(*args) = differentiable loss
        device_ids = [cluster.local_rank] if next(self.module.parameters()).is_cuda else None
        self.parallel = DistributedDataParallel(self.module, device_ids=device_ids, static_graph=True)  # same sites every step
        self.optim, self.cluster = optim, cluster

    def __call__(self, x: torch.Tensor, weights: torch.Tensor, **extras) -> float:
        """The step's loss summed over every rank's sequences (what one process reports for the whole batch)."""
        with poutine.trace(param_only=True) as capture:
            loss = self.parallel(x, weights, **extras)
            (loss * self.cluster.world_size).backward()
        params = {site["value"].unconstrained() for site in capture.trace.nodes.values()}
        self.optim(params)
        zero_grads(params)
        return self.cluster.total(float(loss.detach()))


def quiet_other_ranks(cluster: Cluster) -> None:
    """Ranks other than 0 log warnings only: rank 0 speaks for the run."""
    if not cluster.is_main:
        logging.getLogger().setLevel(logging.WARNING)
