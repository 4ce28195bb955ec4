"""The task registry: ``get_task("watch")``; loaders register themselves by name."""

from __future__ import annotations

from collections.abc import Callable

from ._task import Task

_TASKS: dict[str, tuple[Callable[..., Task], str]] = {}


def register(name: str, summary: str):
    """Decorator: make a loader ``fn(*, seed=0, **options) -> Task`` available by ``name``."""

    def deco(fn: Callable[..., Task]) -> Callable[..., Task]:
        if name in _TASKS:
            raise ValueError(f"task {name!r} is registered twice")
        _TASKS[name] = (fn, summary)
        return fn

    return deco


def get_task(name: str, **options) -> Task:
    """Load (and cache) the task called ``name``; see :func:`list_tasks`."""
    try:
        fn, _ = _TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {sorted(_TASKS)}") from None
    return fn(**options)


def task_loader(name: str) -> Callable[..., Task]:
    """The loader function registered as ``name`` (its signature lists the task's options)."""
    try:
        return _TASKS[name][0]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {sorted(_TASKS)}") from None


def list_tasks() -> dict[str, str]:
    """Task names and one-line summaries."""
    return {name: summary for name, (_, summary) in sorted(_TASKS.items())}
