"""The task registry: ``get_task("watch")``; loaders register themselves by name.

Options reach a loader only through :func:`get_task`, which checks them against the
loader's signature first: an unknown name or a value of the wrong type (``length="abc"``
for an ``int``) is a one-line ``TypeError`` naming the task and the option.
"""

from __future__ import annotations

import inspect
import os
import types
import typing
from collections.abc import Callable
from typing import Any

from ._task import Task

_TASKS: dict[str, tuple[Callable[..., Task], str, str]] = {}


def register(
    name: str, summary: str, *, origin: str
) -> Callable[[Callable[..., Task]], Callable[..., Task]]:
    """Decorator: make a loader ``fn(*, seed=0, **options) -> Task`` available by ``name``.

    ``origin`` says where its data comes from without loading it (``"offline, seglearn
    (core)"``, ``"download (UCI)"``): what ``liquidtorch tasks`` lists.
    """

    def deco(fn: Callable[..., Task]) -> Callable[..., Task]:
        if name in _TASKS:
            raise ValueError(f"task {name!r} is registered twice")
        _TASKS[name] = (fn, summary, origin)
        return fn

    return deco


def task_origin(name: str) -> str:
    """Where the data of task ``name`` comes from (see :func:`register`)."""
    task_loader(name)  # the error for an unknown name
    return _TASKS[name][2]


def get_task(name: str, **options: Any) -> Task:
    """Load (and cache) the task called ``name``; see :func:`list_tasks`.

    Raises:
        ValueError: unknown task, or an option value the loader rejects.
        TypeError: an option the loader does not take, or of the wrong type.
    """
    fn = task_loader(name)
    check_options(fn, options, f"task {name!r}")
    return fn(**options)


def task_loader(name: str) -> Callable[..., Task]:
    """The loader function registered as ``name`` (its signature lists the task's options)."""
    try:
        return _TASKS[name][0]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {sorted(_TASKS)}") from None


def list_tasks() -> dict[str, str]:
    """Task names and one-line summaries."""
    return {name: summary for name, (_, summary, _) in sorted(_TASKS.items())}


# ------------------------------------------------------------------ option checks
def check_options(fn: Callable, options: dict[str, Any], what: str) -> None:
    """``TypeError`` (one line, naming ``what`` and the option) unless every option is a
    keyword ``fn`` takes, with a value of its annotated type (or of its default's type when
    it has no annotation). ``int`` is accepted for ``float``; types it cannot judge pass."""
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation that does not resolve: judge by the defaults only
        hints = {}
    known = sorted(
        n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    )
    for key, value in options.items():
        if key not in known:
            raise TypeError(f"{what}: unknown option {key!r}; it takes {known}")
        expected = hints.get(key)
        if expected is None:
            default = params[key].default
            if isinstance(default, bool | int | float | str):
                expected = float if isinstance(default, float) else type(default)
        if expected is not None and _accepts(expected, value) is False:
            raise TypeError(
                f"{what}: option {key}={value!r} must be {_describe(expected)}, "
                f"got {type(value).__name__}"
            )


def _accepts(tp: Any, value: Any) -> bool | None:
    """Whether ``value`` is of type ``tp`` (None: cannot tell)."""
    if tp is Any:
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        answers = [_accepts(a, value) for a in typing.get_args(tp)]
        return True if any(answers) else (None if None in answers else False)
    if tp is type(None) or tp is None:
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if tp is os.PathLike:
        return isinstance(value, os.PathLike)
    if origin in (tuple, list) or tp in (tuple, list):
        return isinstance(value, tuple | list)
    if origin is typing.Literal:
        return value in typing.get_args(tp)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return None


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "None"
    if tp is os.PathLike:
        return "a path"
    return getattr(tp, "__name__", str(tp))
