"""Helpers every CLI module shares: one-line errors, the console, option parsing."""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn

import typer
from rich.console import Console


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
