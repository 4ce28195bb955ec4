"""Training: a generic :class:`Trainer` (model + loss + data), metrics, data-parallel runs.

Nothing here knows about liquid networks; :mod:`liquidtorch.zoo` builds models for tasks.

>>> from liquidtorch.data import get_task
>>> from liquidtorch.zoo import build_model
>>> from liquidtorch.train import TrainConfig, Trainer, task_loss, task_metric
>>> task = get_task("xor")                                                  # doctest: +SKIP
>>> model = build_model("cfc", task)                                        # doctest: +SKIP
>>> trainer = Trainer(model, task_loss(task), task.train, task.val,
...                   TrainConfig.for_task(task, run_dir="runs/xor-cfc"),
...                   metric_fn=task_metric(task))                          # doctest: +SKIP
>>> result = trainer.fit(); trainer.evaluate(task.test)                     # doctest: +SKIP
"""

from ._device import resolve_device
from ._io import (
    load_checkpoint,
    read_json,
    write_atomic,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from ._rng import seed_everything
from .config import Schedule, TrainConfig
from .data import SequenceDataset, collate_sequences
from .distributed import DistributedResult, fit_distributed
from .metrics import (
    TaskLoss,
    TaskMetric,
    accuracy,
    auc,
    mae,
    masked_cross_entropy,
    masked_mse,
    mse,
    task_loss,
    task_metric,
)
from .trainer import Evaluation, FitResult, Trainer, default_forward

__all__ = [
    "DistributedResult",
    "Evaluation",
    "FitResult",
    "Schedule",
    "SequenceDataset",
    "TaskLoss",
    "TaskMetric",
    "TrainConfig",
    "Trainer",
    "accuracy",
    "auc",
    "collate_sequences",
    "default_forward",
    "fit_distributed",
    "load_checkpoint",
    "mae",
    "masked_cross_entropy",
    "masked_mse",
    "mse",
    "resolve_device",
    "seed_everything",
    "task_loss",
    "read_json",
    "task_metric",
    "write_atomic",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]
