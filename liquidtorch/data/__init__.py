"""Tasks: real and synthetic sequence data sets with fixed splits, metrics and defaults."""

from . import electricity, events, motions, mujoco, physionet, uci, watch, xor  # noqa: F401
from ._registry import get_task, list_tasks, register, task_loader, task_origin
from ._task import Metric, SequenceData, Task, TaskKind, cache_dir, cached, split_indices

__all__ = [
    "Metric",
    "SequenceData",
    "Task",
    "TaskKind",
    "cache_dir",
    "cached",
    "get_task",
    "list_tasks",
    "register",
    "split_indices",
    "task_loader",
    "task_origin",
]
