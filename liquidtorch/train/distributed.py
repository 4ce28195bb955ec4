"""Data-parallel training in several processes with PyTorch DDP (``torch.distributed``).

:func:`fit_distributed` starts ``world_size`` processes (``torch.multiprocessing.spawn``);
each builds the model, wraps it in ``DistributedDataParallel`` and trains on its shard of
every epoch (``DistributedSampler``) with the ordinary :class:`~liquidtorch.train.Trainer`
loop; gradients are averaged across processes at every step, so all ranks hold the same
weights throughout. Rank 0 alone writes the run directory and shows progress. On CPU the
backend is gloo; on CUDA pass ``backend="nccl"`` and ``config.device="cuda"`` (rank ``r``
uses ``cuda:r``).

``config.batch_size`` is per process: an optimiser step sees ``world_size * batch_size``
sequences. Validation runs on every rank over the whole validation set and rank 0's value
decides early stopping and the best epoch, so every rank decides alike.

The arguments travel to the workers by pickling: ``make_model``, ``loss_fn``, ``metric_fn``
and ``forward_fn`` must be module-level functions or picklable objects (``functools.partial``,
:func:`~liquidtorch.train.task_loss`'s result), not lambdas. In a script, call
:func:`fit_distributed` under ``if __name__ == "__main__":`` (the workers import the main
module).

>>> from functools import partial
>>> from liquidtorch.zoo import build_model
>>> result = fit_distributed(partial(build_model, "cfc", task), task_loss(task),
...                          task.train, TrainConfig(epochs=5), world_size=2,
...                          val_data=task.val, metric_fn=task_metric(task))  # doctest: +SKIP
>>> model = build_model("cfc", task); model.load_state_dict(result.state_dict)  # doctest: +SKIP
"""

from __future__ import annotations

import gc
import os
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DistributedSampler

from ._io import save_atomic
from ._rng import seed_everything
from .config import TrainConfig
from .trainer import FitResult, Trainer, default_forward


@dataclass
class DistributedResult(FitResult):
    """A :class:`FitResult` plus every rank's final weights (they agree)."""

    rank_states: list[dict[str, torch.Tensor]] = field(default_factory=list)

    @property
    def state_dict(self) -> dict[str, torch.Tensor]:
        """Rank 0's final weights, for ``model.load_state_dict``."""
        return self.rank_states[0]


class _DistributedTrainer(Trainer):
    """The trainer of one rank: sharded epochs, losses reduced over ranks, rank 0 writes."""

    def __init__(self, *args, rank: int, world_size: int, **kwargs):
        self.rank, self.world_size = rank, world_size
        super().__init__(*args, **kwargs)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def _seed_offset(self) -> int:
        return self.rank  # independent dropout etc. per rank

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        sampler = DistributedSampler(
            self.train_data,
            num_replicas=self.world_size,
            rank=self.rank,
            shuffle=True,
            seed=self.config.seed,
        )
        sampler.set_epoch(epoch)  # padded to equal shards: every rank takes as many steps
        order, bs = list(sampler), self.config.batch_size
        return [order[i : i + bs] for i in range(0, len(order), bs)]

    def _reduce_epoch_loss(self) -> float:
        t = torch.tensor(self._epoch_loss, dtype=torch.float64)
        dist.all_reduce(t)
        return (t[0] / t[1].clamp_min(1)).item()

    def _agree(self, value: float | None) -> float | None:
        if value is None:
            return None
        t = torch.tensor([value], dtype=torch.float64)
        dist.broadcast(t, src=0)
        return t.item()

    def _gather_rng(self) -> list[dict]:
        states: list = [None] * self.world_size
        dist.all_gather_object(states, self._rng_mark)
        return states

    def _rank_rng(self, states: list[dict]) -> dict:
        # After an interrupt only rank 0's state was saved; other ranks then share it.
        return states[self.rank] if self.rank < len(states) else states[0]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, setup: dict, job: dict, out_dir: str) -> None:
    """One rank: set up the process group, train, and shut down in an order that is safe.

    The shutdown order is what keeps gloo from aborting the process at exit ("terminate
    called without an active exception"): the DDP wrapper and the trainer (which hold the
    process group and its pending work) are released and garbage-collected first, then
    every rank waits at a barrier (so none exits, closing its connections, while another
    still writes its files or talks to the store on rank 0), and only then is the process
    group destroyed, before the interpreter starts tearing down.
    """
    os.environ["MASTER_ADDR"] = setup["master_addr"]
    os.environ["MASTER_PORT"] = str(setup["master_port"])
    torch.set_num_threads(setup["threads"])
    dist.init_process_group(setup["backend"], rank=rank, world_size=world_size)
    try:
        _train_rank(rank, world_size, setup, job, Path(out_dir))
        gc.collect()  # DDP's reference cycles hold the process group's work objects
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _train_rank(rank: int, world_size: int, setup: dict, job: dict, out_dir: Path) -> None:
    config: TrainConfig = job["config"]
    seed_everything(config.seed)  # the same initial weights everywhere (DDP checks too)
    model = job["make_model"]()
    device = torch.device(config.device if config.device != "auto" else "cpu")
    if device.type == "cuda":
        device = torch.device("cuda", rank)
        torch.cuda.set_device(device)
    model = model.to(device)
    ddp = nn.parallel.DistributedDataParallel(
        model,
        device_ids=[rank] if device.type == "cuda" else None,
        find_unused_parameters=setup["find_unused_parameters"],
    )
    config = config.replace(device=str(device), progress=config.progress and rank == 0)
    trainer = _DistributedTrainer(
        ddp,
        job["loss_fn"],
        job["data"],
        job["val_data"],
        config,
        metric_fn=job["metric_fn"],
        higher_is_better=job["higher_is_better"],
        forward_fn=job["forward_fn"],
        rank=rank,
        world_size=world_size,
    )
    result = trainer.fit()
    state = {k: v.cpu() for k, v in trainer.core.state_dict().items()}
    save_atomic(state, out_dir / f"rank{rank}.pt")
    if rank == 0:
        summary = {
            "best_epoch": result.best_epoch,
            "best_metric": result.best_metric,
            "monitor": result.monitor,
            "history": result.history,
            "stopped_early": result.stopped_early,
        }
        save_atomic(summary, out_dir / "result.pt")


def fit_distributed(
    make_model: Callable[[], nn.Module],
    loss_fn: Callable,
    data,
    config: TrainConfig | None = None,
    world_size: int = 2,
    *,
    val_data=None,
    metric_fn: Callable | None = None,
    higher_is_better: bool | None = None,
    forward_fn: Callable = default_forward,
    backend: str = "gloo",
    master_addr: str = "127.0.0.1",
    master_port: int | None = None,
    threads_per_process: int | None = None,
    find_unused_parameters: bool = False,
) -> DistributedResult:
    """Train ``make_model()`` on ``data`` in ``world_size`` processes with DDP.

    Arguments as for :class:`~liquidtorch.train.Trainer`, plus the process group's:
    ``backend`` (gloo on CPU, nccl on CUDA), ``master_addr`` / ``master_port`` (a free port
    when None), ``threads_per_process`` (default: the CPU cores shared out) and DDP's
    ``find_unused_parameters``. Returns rank 0's :class:`FitResult` with every rank's final
    weights (``result.state_dict`` for rank 0's).
    """
    if not dist.is_available():
        raise RuntimeError("torch.distributed is not available in this build of PyTorch")
    if not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be an int >= 1, got {world_size!r}")
    config = config or TrainConfig()
    setup = {
        "backend": backend,
        "master_addr": master_addr,
        "master_port": master_port or _free_port(),
        "threads": threads_per_process or max(1, (os.cpu_count() or 1) // world_size),
        "find_unused_parameters": find_unused_parameters,
    }
    job = {
        "make_model": make_model,
        "loss_fn": loss_fn,
        "data": data,
        "val_data": val_data,
        "config": config,
        "metric_fn": metric_fn,
        "higher_is_better": higher_is_better,
        "forward_fn": forward_fn,
    }
    with tempfile.TemporaryDirectory(prefix="liquidtorch-ddp-") as tmp:
        torch.multiprocessing.spawn(
            _worker, args=(world_size, setup, job, tmp), nprocs=world_size, join=True
        )
        states = [
            torch.load(Path(tmp) / f"rank{r}.pt", weights_only=True) for r in range(world_size)
        ]
        summary = torch.load(Path(tmp) / "result.pt", weights_only=True)
    return DistributedResult(**summary, run_dir=config.run_dir, rank_states=states)
