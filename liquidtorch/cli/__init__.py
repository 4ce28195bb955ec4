"""The ``liquidtorch`` command line: tasks, models, train, evaluate, tune, bench, demo,
explain, export.

Run ``liquidtorch --help`` (or ``python -m liquidtorch --help``). Every command parses its
options and calls the library (:mod:`liquidtorch.experiments` and friends); nothing here is
needed to use the library from Python.
"""

from .main import app, main

__all__ = ["app", "main"]
