"""The ``liquidtorch`` command (typer): the app and its command groups.

Each group is a module under ``liquidtorch/cli/`` with ``register(app)``; the commands parse
options, call a library function (:mod:`liquidtorch.experiments`, ``liquidtorch.tune``,
``liquidtorch.export``, ``liquidtorch.interpret``) and print. Bad arguments, files or
options print one line ``Error: ...`` on stderr and exit with code 2; a data set or extra
that cannot be loaded, or a failed run, exits with code 1 (see ``_common.cli_errors``).
"""

from __future__ import annotations

import importlib
import sys

import typer

app = typer.Typer(
    name="liquidtorch",
    help=(
        "Liquid neural networks (LTC, CfC, NCP wirings) for PyTorch: list tasks and models, "
        "train, tune, evaluate, explain and export models, run the benchmark suite or the demo."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command groups in their own modules under ``liquidtorch/cli/``: each has
# ``register(app: typer.Typer) -> None`` that adds its commands (heavy imports stay inside
# the command functions, so ``liquidtorch --help`` stays fast).
_COMMAND_MODULES: tuple[str, ...] = ("run", "bench", "tune", "explain", "export")
for _module in _COMMAND_MODULES:
    importlib.import_module(f"{__package__}.{_module}").register(app)


def main() -> None:
    """Entry point of ``python -m liquidtorch``."""
    app(prog_name="liquidtorch" if sys.argv[0].endswith("__main__.py") else None)
