"""The ``liquidtorch`` command line: list tasks and models, train, evaluate, benchmark, demo.

Run ``liquidtorch --help`` (or ``python -m liquidtorch --help``). Every command parses its
options into typed values (:class:`RunSpec`, :class:`~liquidtorch.train.TrainConfig`) and
calls the library (:func:`~liquidtorch.data.get_task`, :func:`~liquidtorch.zoo.build_model`,
:class:`~liquidtorch.train.Trainer`); nothing here is needed to use the library from Python.
"""

from .main import RunSpec, app, main

__all__ = ["RunSpec", "app", "main"]
