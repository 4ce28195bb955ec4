"""Helpers every CLI module shares: one-line errors, the console, option parsing."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr and exit ``code`` (2: bad arguments, 1: could not run)."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


def make_console() -> Console:
    return Console(highlight=False)


def parse_value(text: str) -> Any:
    """A task or model option value: JSON (``3``, ``0.5``, ``true``) or else a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_options(items: list[str] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"{what} option {item!r} must look like KEY=VALUE")
        out[key.strip()] = parse_value(value.strip())
    return out


def split_names(text: str | None, known: list[str], what: str) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        fail(f"no {what}s given")
    for n in names:
        check_name(n, known, what)
    return names


def check_name(name: str, known: list[str], what: str) -> None:
    if name not in known:
        fail(f"unknown {what} {name!r}; known {what}s: {', '.join(sorted(known))}")


def task_names() -> list[str]:
    from liquidtorch.data import list_tasks

    return list(list_tasks())


def model_names() -> list[str]:
    from liquidtorch.zoo import MODELS

    return list(MODELS)


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}g}"


def one_line(error: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, at most ``limit`` characters."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def cli_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command: library errors become one line on stderr, never a traceback.

    ``ValueError``/``TypeError``/``FileNotFoundError`` (bad input: options, names, files)
    exit 2; ``ImportError``/``OSError`` (data or an extra that cannot be loaded) and a
    failed run exit 1; Ctrl-C exits 130.
    """

    @functools.wraps(fn)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(130) from None
        except (ValueError, TypeError, FileNotFoundError, NotADirectoryError) as e:
            fail(one_line(e))
        except (ImportError, OSError, RuntimeError) as e:
            fail(one_line(e), code=1)

    return wrapped


def user_file_options(
    time_column: str | None, target: list[str] | None, id_column: str | None, kind: str | None
) -> dict[str, Any]:
    """Task options for a user's data file (``liquidtorch.data.user.load_user_data``)."""
    options: dict[str, Any] = {}
    if time_column is not None:
        options["time_column"] = time_column
    if target:
        options["target_column"] = target[0] if len(target) == 1 else list(target)
    if id_column is not None:
        options["id_column"] = id_column
    if kind is not None:
        options["task"] = kind
        options.setdefault("per_step", kind != "classification")
    return options
