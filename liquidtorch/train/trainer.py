"""A generic training loop (minGPT's ``Trainer``): a model, a loss and data; nothing else.

The trainer knows nothing about liquid networks. It calls the model through
``forward_fn(model, batch) -> predictions`` (default: :func:`default_forward`, the sequence
API ``model(x, timespans=..., lengths=...)``), scores predictions with
``loss_fn(predictions, batch) -> scalar tensor`` and, optionally,
``metric_fn(predictions, batch) -> float`` over a whole evaluation set. A batch is a dict of
tensors (see :class:`~liquidtorch.train.data.SequenceDataset`).

>>> from liquidtorch.train import Trainer, TrainConfig, task_loss, task_metric
>>> trainer = Trainer(model, task_loss(task), task.train, task.val,        # doctest: +SKIP
...                   TrainConfig(epochs=20, run_dir="runs/xor"), metric_fn=task_metric(task))
>>> result = trainer.fit()                                                  # doctest: +SKIP
>>> result.best_epoch, result.best_metric                                   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.utils.data import DataLoader, default_collate

from .._threads import flushing_denormals
from . import _io
from ._device import resolve_device
from ._interrupts import StepGuard
from ._progress import Progress
from ._rng import epoch_seed, get_rng_state, seed_everything, set_rng_state
from .config import Schedule, TrainConfig
from .data import SequenceDataset, as_dataset, collate_sequences

logger = logging.getLogger("liquidtorch.train")

Batch = dict[str, Any]
EVENTS = ("on_fit_start", "on_step_end", "on_epoch_end", "on_fit_end")


def default_forward(model: nn.Module, batch: Batch):
    """``model(batch["x"], timespans=..., lengths=...)`` (only the keys the batch has); of a
    tuple ``(output, state)`` (a bare sequence layer) the output."""
    kwargs = {k: batch[k] for k in ("timespans", "lengths") if batch.get(k) is not None}
    out = model(batch["x"], **kwargs)
    return out[0] if isinstance(out, tuple) else out


class Evaluation(NamedTuple):
    loss: float  # mean loss per sequence (per item of the data set)
    metric: float | None  # metric_fn over the whole set (None without a metric_fn)


@dataclass
class FitResult:
    """What ``fit`` returns. Epochs are numbered from 1; ``history`` holds one dict per
    epoch with the columns of ``metrics.csv``."""

    best_epoch: int | None
    best_metric: float | None  # the monitored value: val metric, val loss or train loss
    monitor: str  # "val_metric", "val_loss" or "train_loss"
    history: list[dict] = field(default_factory=list)
    stopped_early: bool = False
    run_dir: Path | None = None

    @property
    def epochs_run(self) -> int:
        return len(self.history)


class Trainer:
    """Fit any ``nn.Module`` on data given as a ``Dataset`` (or a ``SequenceData``).

    Args:
        model: the module to train (moved to ``config.device``).
        loss_fn: ``loss_fn(predictions, batch) -> scalar tensor``.
        train_data, val_data: ``torch.utils.data.Dataset`` whose items are dicts of tensors,
            or :class:`~liquidtorch.data.SequenceData` (wrapped in a ``SequenceDataset``).
        config: a :class:`TrainConfig`.
        metric_fn: ``metric_fn(predictions, batch) -> float`` on the whole validation set
            (all batches concatenated). Early stopping and the best checkpoint follow it;
            without it, the validation loss (without validation data, the training loss).
        higher_is_better: the metric's sense (default: ``metric_fn.higher_is_better`` if it
            has one, else False).
        forward_fn: ``forward_fn(model, batch) -> predictions`` (default
            :func:`default_forward`).

    Callbacks (:meth:`add_callback`): ``fn(trainer)`` on ``on_fit_start``, ``on_step_end``,
    ``on_epoch_end``, ``on_fit_end``; the trainer's ``epoch``, ``step``, ``loss`` and
    ``history`` tell where it is. E.g. an LTC with ``Constraint.CLAMP`` projects its
    parameters with ``trainer.add_callback("on_step_end", lambda t: t.model.project_())``.

    Subclasses may override :meth:`configure_optimizer` (AdamW) and :meth:`learning_rate`
    (``config.schedule``).

    Bookkeeping guarantees (``docs/guarantees.md``): the learning rate of an epoch is a
    function of its index and the config alone (a resumed run with another ``epochs``
    follows the schedule of the new total for its remaining epochs); a checkpoint always
    describes a completed step; an interrupted run resumed from ``last.pt`` ends with
    exactly the weights of an uninterrupted one (CPU, one thread).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: Callable[[Any, Batch], torch.Tensor],
        train_data,
        val_data=None,
        config: TrainConfig | None = None,
        *,
        metric_fn: Callable[[Any, Batch], float] | None = None,
        higher_is_better: bool | None = None,
        forward_fn: Callable[[nn.Module, Batch], Any] = default_forward,
    ):
        self.config = config or TrainConfig()
        self.device = resolve_device(self.config.device)
        self.model = model.to(self.device)
        self.loss_fn, self.metric_fn, self.forward_fn = loss_fn, metric_fn, forward_fn
        self.train_data = as_dataset(train_data)
        self.val_data = None if val_data is None else as_dataset(val_data)
        if higher_is_better is None:
            higher_is_better = bool(getattr(metric_fn, "higher_is_better", False))
        self.higher_is_better = bool(higher_is_better and metric_fn is not None)
        if self.val_data is None:
            self.monitor = "train_loss"
        else:
            self.monitor = "val_metric" if metric_fn is not None else "val_loss"
        self.metric_name = getattr(metric_fn, "name", "metric") if metric_fn else "loss"
        self.callbacks: dict[str, list[Callable[[Trainer], None]]] = {e: [] for e in EVENTS}
        self.optimizer = self.configure_optimizer()
        # Each group's rate relative to config.lr (1.0 for AdamW's single group).
        self._lr_scales = [g["lr"] / self.config.lr for g in self.optimizer.param_groups]
        amp_cuda = self.config.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=amp_cuda)
        # Where the run stands (a checkpoint restores all of it).
        self.epoch = 0  # index of the epoch in progress (0-based)
        self.step = 0  # optimiser steps done in that epoch
        self.loss = math.nan  # the last step's loss
        self.history: list[dict] = []
        self.best_metric: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0
        self.stopped_early = False
        self._epoch_loss = [0.0, 0]  # sum of per-sequence losses, sequences
        self._epoch_seconds = 0.0  # time spent in the epoch in progress before a resume
        self._epoch_start: float | None = None
        self._best_state: dict | None = None
        self._rng_mark: dict | None = None
        self._guard = StepGuard()

    # ------------------------------------------------------------------ hooks
    def configure_optimizer(self) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.config.lr, weight_decay=self.config.weight_decay)

    def learning_rate(self, epoch: int) -> float:
        """The learning rate of the 0-based ``epoch``: ``config.lr`` (constant) or
        ``lr * (1 + cos(pi * epoch / epochs)) / 2`` (cosine, from ``lr`` towards 0 over
        ``config.epochs``). A function of the epoch and the config only, not of a scheduler's
        state: resuming with a larger ``epochs`` continues on the new total's curve (a
        finished 3-epoch run resumed with ``epochs=5`` trains epochs 4 and 5 at
        ``lr * (1 + cos(3 pi / 5)) / 2`` and ``lr * (1 + cos(4 pi / 5)) / 2``)."""
        cfg = self.config
        if cfg.schedule is Schedule.COSINE:
            return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / cfg.epochs))
        return cfg.lr

    def _set_learning_rate(self, epoch: int) -> float:
        lr = self.learning_rate(epoch)
        for group, scale in zip(self.optimizer.param_groups, self._lr_scales, strict=True):
            group["lr"] = lr * scale
        return lr

    def add_callback(self, event: str, fn: Callable[[Trainer], None]) -> None:
        if event not in self.callbacks:
            raise ValueError(f"unknown event {event!r}; use one of {list(EVENTS)}")
        self.callbacks[event].append(fn)

    def _fire(self, event: str) -> None:
        for fn in self.callbacks[event]:
            fn(self)

    # ---------------------------------------------- overridden by distributed training
    @property
    def is_main(self) -> bool:
        """Whether this process writes the run directory and reports progress."""
        return True

    @property
    def core(self) -> nn.Module:
        """The model without a (Distributed)DataParallel wrapper."""
        wrappers = (nn.parallel.DistributedDataParallel, nn.DataParallel)
        return self.model.module if isinstance(self.model, wrappers) else self.model

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        """The index lists of an epoch's batches: a fixed function of (seed, epoch)."""
        g = torch.Generator().manual_seed(epoch_seed(self.config.seed, epoch))
        order = torch.randperm(len(self.train_data), generator=g).tolist()
        bs = self.config.batch_size
        return [order[i : i + bs] for i in range(0, len(order), bs)]

    def _reduce_epoch_loss(self) -> float:
        total, count = self._epoch_loss
        return total / max(count, 1)

    def _agree(self, value: float | None) -> float | None:
        """A value every process acts on identically (identity in one process)."""
        return value

    def _gather_rng(self) -> list[dict]:
        return [self._rng_mark]

    def _rank_rng(self, states: list[dict]) -> dict:
        return states[0]

    # ------------------------------------------------------------------- data
    def _batches(self, dataset, index_lists: list[list[int]]):
        if self.config.num_workers == 0 and isinstance(dataset, SequenceDataset):
            return (dataset.batch(idx) for idx in index_lists)  # no per-item Python loop
        collate = collate_sequences if isinstance(dataset, SequenceDataset) else default_collate
        return DataLoader(
            dataset,
            batch_sampler=index_lists,
            collate_fn=collate,
            num_workers=self.config.num_workers,
            pin_memory=self.device.type == "cuda",
            # Its own generator (for the workers' seeds): the loader must not draw from the
            # global RNG, or a resumed epoch would see other dropout masks.
            generator=torch.Generator().manual_seed(self.config.seed),
        )

    def _to_device(self, batch: Batch) -> Batch:
        nb = self.device.type == "cuda"
        return {
            k: v.to(self.device, non_blocking=nb) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()
        }

    def _autocast(self):
        if not self.config.amp:
            return contextlib.nullcontext()
        dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype)

    # ------------------------------------------------------------------- loop
    def fit(self) -> FitResult:
        """Train for ``config.epochs`` epochs (or until early stopping); see the class doc.

        With ``config.resume`` and ``run_dir/last.pt`` present, the run continues exactly
        where that checkpoint stopped (mid-epoch after an interrupt). A ``KeyboardInterrupt``
        saves ``last.pt`` (with a run dir) at the last completed step and is re-raised; one
        that escapes the middle of a weight update leaves ``last.pt`` as it was (the state in
        memory is then half-updated; resuming from the file is still exact).
        """
        cfg, run_dir = self.config, self.config.run_dir
        last = None if run_dir is None else run_dir / "last.pt"
        if cfg.resume and last is not None and last.exists():
            self.load_checkpoint(last)
            logger.info("resumed from %s at epoch %d, step %d", last, self.epoch + 1, self.step)
        elif self._guard.torn:
            raise RuntimeError(
                "this trainer was interrupted in the middle of a weight update; its state is "
                "inconsistent: build a new Trainer with resume=True to continue from last.pt"
            )
        else:
            seed_everything(cfg.seed + self._seed_offset())
        if run_dir is not None and self.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            cfg.to_json(run_dir / "config.json")
            self._write_best_if_stale(run_dir / "best.pt")
        progress = Progress(cfg.progress and self.is_main)
        self._fire("on_fit_start")
        try:
            with self._guard.installed(), flushing_denormals(cfg.flush_denormals):
                while self.epoch < cfg.epochs and not self.stopped_early:
                    self._run_epoch(progress)
        except KeyboardInterrupt:
            if last is not None and self.is_main:
                if self._guard.torn:
                    logger.warning(
                        "interrupted during a weight update: %s left as it was (resume=True "
                        "continues from it)",
                        last,
                    )
                else:
                    self.save_checkpoint(last)
                    logger.warning("interrupted: saved %s (resume=True continues from it)", last)
            raise
        finally:
            progress.close()
        if run_dir is not None and self.is_main and self.history:
            _io.plot_learning_curve(run_dir / "learning_curve.png", self.history, self.metric_name)
        if cfg.restore_best and self._best_state is not None:
            self.core.load_state_dict(self._best_state)
        self._fire("on_fit_end")
        return FitResult(
            self.best_epoch,
            self.best_metric,
            self.monitor,
            list(self.history),
            self.stopped_early,
            run_dir,
        )

    def _seed_offset(self) -> int:
        return 0

    def _run_epoch(self, progress: Progress) -> None:
        cfg = self.config
        start = time.perf_counter() - self._epoch_seconds
        index_lists = self._epoch_batches(self.epoch)
        self._epoch_start = start
        lr = self._set_learning_rate(self.epoch)
        progress.start_epoch(self.epoch + 1, cfg.epochs, len(index_lists), self.step)
        self.model.train()
        # The RNG states at the last step boundary: an interrupt anywhere resumes from there.
        self._rng_mark = get_rng_state()
        for batch in self._batches(self.train_data, index_lists[self.step :]):
            size = len(batch["y"] if "y" in batch else next(iter(batch.values())))
            self._train_step(self._to_device(batch), size)
            progress.step(self.loss)
            if cfg.log_every and self.step % cfg.log_every == 0 and self.is_main:
                logger.info(
                    "epoch %d step %d/%d: loss %.4g (running %.4g)",
                    self.epoch + 1,
                    self.step,
                    len(index_lists),
                    self.loss,
                    self._epoch_loss[0] / max(self._epoch_loss[1], 1),
                )
            self._fire("on_step_end")
        train_loss = self._reduce_epoch_loss()
        ev = Evaluation(None, None) if self.val_data is None else self.evaluate(self.val_data)
        row = {
            "epoch": self.epoch + 1,
            "train_loss": train_loss,
            "val_loss": ev.loss,
            "val_metric": ev.metric,
            "seconds": time.perf_counter() - start,
            "lr": lr,
        }
        self._end_epoch(row)
        progress.end_epoch(self._describe(row))
        self._fire("on_epoch_end")

    def _train_step(self, batch: Batch, size: int) -> None:
        """Forward, backward, clip (nothing of the run's state changes: an interrupt here
        repeats the step on resume), then the update and its bookkeeping as one commit."""
        with self._autocast():
            pred = self.forward_fn(self.model, batch)
            loss = self.loss_fn(pred, batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"loss is {loss.item()} at epoch {self.epoch + 1}, step {self.step + 1}"
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        value = loss.item()
        with self._guard.commit():
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.loss = value
            self._epoch_loss[0] += value * size
            self._epoch_loss[1] += size
            self.step += 1
            self._rng_mark = get_rng_state()

    def _end_epoch(self, row: dict) -> None:
        """Record the epoch, track the best, write the run dir, move on to the next epoch."""
        value = self._agree(row[self.monitor])
        improved = self._improves(value)
        with self._guard.commit():
            self.history.append(row)
            if improved:
                self.best_metric, self.best_epoch, self.bad_epochs = value, row["epoch"], 0
                self._best_state = copy.deepcopy(self.core.state_dict())
            else:
                self.bad_epochs += 1
            patience = self.config.patience
            self.stopped_early = patience is not None and self.bad_epochs >= patience
            self.epoch, self.step = self.epoch + 1, 0
            self._epoch_loss, self._epoch_seconds, self._epoch_start = [0.0, 0], 0.0, None
        rng = self._gather_rng()  # collective in distributed training: every rank calls it
        run_dir = self.config.run_dir
        if run_dir is not None and self.is_main:
            # last.pt holds the best weights too, so best.pt is always rebuilt from it.
            if improved:
                self._write_best(run_dir / "best.pt")
            _io.write_metrics_csv(run_dir / "metrics.csv", self.history)
            self.save_checkpoint(run_dir / "last.pt", rng=rng)
        if self.stopped_early and self.is_main:
            logger.info("early stopping: no improvement for %d epochs", patience)

    def _write_best(self, path: Path) -> None:
        best = {"model": self._best_state, "epoch": self.best_epoch, "metric": self.best_metric}
        _io.save_atomic({**best, "config": self.config.to_dict()}, path)

    def _write_best_if_stale(self, path: Path) -> None:
        """After a resume: rewrite best.pt when an interrupt kept it from matching last.pt."""
        if self._best_state is None:
            return
        try:
            on_disk = _io.load_checkpoint(path, keys=("model", "epoch")).get("epoch")
        except (OSError, ValueError):
            on_disk = None
        if on_disk != self.best_epoch:
            self._write_best(path)

    def _improves(self, value: float | None) -> bool:
        if value is None or math.isnan(value):
            return False
        if self.best_metric is None:
            return True
        delta = self.config.min_delta
        if self.higher_is_better:
            return value > self.best_metric + delta
        return value < self.best_metric - delta

    def _describe(self, row: dict) -> str:
        parts = [f"train_loss {row['train_loss']:.4g}"]
        if row["val_loss"] is not None:
            parts.append(f"val_loss {row['val_loss']:.4g}")
        if row["val_metric"] is not None:
            parts.append(f"val_{self.metric_name} {row['val_metric']:.4g}")
        return ", ".join(parts) + f" ({row['seconds']:.1f}s)"

    # ------------------------------------------------------------- evaluation
    @torch.no_grad()
    def predict(self, data) -> tuple[Any, Batch, float]:
        """Predictions and the batch of a whole data set (both concatenated on the CPU),
        and the mean loss per sequence."""
        dataset = as_dataset(data)
        model = self.core
        was_training = model.training
        model.eval()
        bs = self.config.eval_batch_size or self.config.batch_size
        index = list(range(len(dataset)))
        preds, batches, total = [], [], 0.0
        try:
            for batch in self._batches(
                dataset, [index[i : i + bs] for i in range(0, len(index), bs)]
            ):
                batch = self._to_device(batch)
                with self._autocast():
                    pred = self.forward_fn(model, batch)
                    loss = self.loss_fn(pred, batch)
                total += loss.item() * len(batch["y"] if "y" in batch else pred)
                preds.append(_to_cpu(pred))
                batches.append(_to_cpu(batch))
        finally:
            model.train(was_training)
        return _concat(preds), _concat(batches), total / max(len(dataset), 1)

    def evaluate(self, data) -> Evaluation:
        """Mean loss per sequence and ``metric_fn`` over all of ``data``."""
        pred, batch, loss = self.predict(data)
        metric = None if self.metric_fn is None else float(self.metric_fn(pred, batch))
        return Evaluation(loss, metric)

    # ------------------------------------------------------------ checkpoints
    def state_dict(self, rng: list[dict] | None = None) -> dict:
        """Everything needed to continue the run exactly (see :meth:`load_state_dict`),
        the best epoch's weights included."""
        return {
            "model": self.core.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "epoch_loss": list(self._epoch_loss),
            "epoch_seconds": 0.0
            if self._epoch_start is None
            else time.perf_counter() - self._epoch_start,
            "history": list(self.history),
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "best_model": self._best_state,
            "bad_epochs": self.bad_epochs,
            "stopped_early": self.stopped_early,
            # This process's RNG mark unless given (all ranks' marks, gathered at epoch ends).
            "rng": rng if rng is not None else [self._rng_mark],
            "config": self.config.to_dict(),
        }

    def load_state_dict(self, state: dict, source: str | Path = "state") -> None:
        """Restore :meth:`state_dict`; a ``ValueError`` naming ``source`` when it does not
        fit this model and optimiser (nothing is changed then)."""
        missing = [k for k in _STATE_KEYS if k not in state]
        if missing:
            raise _io.corrupt(source, f"missing entries {missing}")
        # A failed load must not leave half a state: put the old weights back.
        model_before = copy.deepcopy(self.core.state_dict())
        optimizer_before = copy.deepcopy(self.optimizer.state_dict())
        try:
            _io.load_weights(self.core, state["model"], source)
            if state.get("best_model") is not None:
                _io.load_weights(self.core, state["best_model"], source)  # fits the model too
                self.core.load_state_dict(state["model"])
            try:
                self.optimizer.load_state_dict(state["optimizer"])
            except (RuntimeError, ValueError, KeyError, TypeError) as e:
                raise _io.corrupt(source, f"optimizer state: {_io.one_line(e)}") from None
        except ValueError:
            self.core.load_state_dict(model_before)
            self.optimizer.load_state_dict(optimizer_before)
            raise
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self._epoch_loss = list(state["epoch_loss"])
        self._epoch_seconds = state["epoch_seconds"]
        self.history = list(state["history"])
        self.best_metric, self.best_epoch = state["best_metric"], state["best_epoch"]
        self._best_state = state.get("best_model")
        self.bad_epochs, self.stopped_early = state["bad_epochs"], state["stopped_early"]
        self._guard.torn = False
        rng = self._rank_rng(state["rng"]) if state["rng"] else None
        if rng is not None:
            set_rng_state(rng)
        else:  # interrupted before the first step: start as a fresh run would
            seed_everything(self.config.seed + self._seed_offset())

    def save_checkpoint(self, path: str | Path, rng: list[dict] | None = None) -> None:
        """Write :meth:`state_dict` to ``path`` atomically (never through a link)."""
        _io.save_atomic(self.state_dict(rng), Path(path))

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore a ``last.pt`` (a one-line ``ValueError`` for a corrupt or foreign file).
        Checkpoints from before the best weights were kept in ``last.pt`` take them from
        ``best.pt`` beside it."""
        path = Path(path)
        state = _io.load_checkpoint(path, self.device, keys=_STATE_KEYS)
        self.load_state_dict(state, path)
        best = path.with_name("best.pt")
        if self._best_state is None and self.best_epoch is not None and best.exists():
            probe = copy.deepcopy(self.core)
            self._best_state = _io.load_checkpoint(best, self.device, model=probe)["model"]


_STATE_KEYS = (
    "model",
    "optimizer",
    "scaler",
    "epoch",
    "step",
    "epoch_loss",
    "epoch_seconds",
    "history",
    "best_metric",
    "best_epoch",
    "bad_epochs",
    "stopped_early",
    "rng",
)


def _to_cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().float().cpu() if obj.is_floating_point() else obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def _concat(parts: list):
    first = parts[0] if parts else None
    if isinstance(first, torch.Tensor):
        return torch.cat(parts)
    if isinstance(first, dict):
        return {k: _concat([p[k] for p in parts]) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_concat(list(group)) for group in zip(*parts, strict=True))
    return parts
