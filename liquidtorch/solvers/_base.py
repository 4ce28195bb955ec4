"""The solver contract: integrate an autonomous vector field ``dy/dt = f(y)`` over ``dt``.

A recurrent cell holds its input constant over one input step, so the field it hands a
solver depends on the state only (the input is closed over). Solvers know nothing about
the model: the LTC, the CT-RNN, the Neural ODE and the ODE-RNN all pass a plain callable,
as torchdiffeq's fixed-grid solvers see only ``f(t, y)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch

#: ``f(y) -> dy/dt`` for a state ``y`` (batch, n); the result has the shape of ``y``.
VectorField = Callable[[torch.Tensor], torch.Tensor]

#: Elapsed time of a step: a float, or a ``(batch, 1)`` tensor (one per sample).
Time = float | torch.Tensor


@dataclass(frozen=True)
class Solver:
    """Base class of every solver: advances a state by an elapsed time ``dt``."""

    #: Order of accuracy (global error ~ h**order); checked by the convergence tests.
    order: ClassVar[int] = 0
    #: The solver's name, as typed on a command line or stored in JSON (``"rk4"``).
    name: ClassVar[str] = ""

    def integrate(self, field: VectorField, y: torch.Tensor, dt: Time) -> torch.Tensor:
        """The state after ``dt`` from ``y`` (batch, n) under ``dy/dt = field(y)``."""
        raise NotImplementedError  # pragma: no cover - abstract


@dataclass(frozen=True)
class FixedGridSolver(Solver):
    """A solver that takes ``unfolds`` equal steps of ``dt / unfolds`` per input step;
    subclasses give the step (torchdiffeq's ``_step_func``)."""

    unfolds: int = 6

    def __post_init__(self) -> None:
        if not isinstance(self.unfolds, int) or isinstance(self.unfolds, bool) or self.unfolds < 1:
            raise ValueError(f"unfolds must be a positive int, got {self.unfolds!r}")

    def integrate(self, field: VectorField, y: torch.Tensor, dt: Time) -> torch.Tensor:
        h = dt / self.unfolds
        for _ in range(self.unfolds):
            y = self.step(field, y, h)
        return y

    def step(self, field: VectorField, y: torch.Tensor, h: Time) -> torch.Tensor:
        """One step of size ``h`` from ``y``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def __str__(self) -> str:
        return f"{self.name}({self.unfolds})"
