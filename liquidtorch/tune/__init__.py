"""Hyperparameter tuning of zoo models (``liquidtorch tune``), on Optuna (the ``tune`` extra).

- :mod:`~liquidtorch.tune.space`: search spaces (default per model family; narrowed or
  widened with ``NAME=SPEC`` items or a JSON file);
- :mod:`~liquidtorch.tune.study`: :class:`TuneSpec` and :func:`tune` (TPE sampling, pruning
  per epoch, a journal file or a database as storage, worker processes);
- :mod:`~liquidtorch.tune.best`: ``best.json`` (:func:`load_best`), which ``liquidtorch
  train --config`` and ``bench`` read.

Importing this package does not import Optuna; :func:`tune` does (``pip install
"liquidtorch[tune]"``).
"""

from .best import load_best, make_best
from .space import (
    Categorical,
    Fixed,
    FloatRange,
    IntRange,
    Settings,
    Space,
    default_space,
    load_space,
    parse_dimension,
    parse_items,
)
from .study import PrunerKind, TuneResult, TuneSpec, best_settings, check, tune

__all__ = [
    "Categorical",
    "Fixed",
    "FloatRange",
    "IntRange",
    "PrunerKind",
    "Settings",
    "Space",
    "TuneResult",
    "TuneSpec",
    "best_settings",
    "check",
    "default_space",
    "load_best",
    "load_space",
    "make_best",
    "parse_dimension",
    "parse_items",
    "tune",
]
