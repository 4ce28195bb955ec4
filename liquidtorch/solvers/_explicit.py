"""Explicit fixed-grid solvers for any vector field: Euler and the classic RK4."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ._base import FixedGridSolver, Time, VectorField


@dataclass(frozen=True)
class Euler(FixedGridSolver):
    """Explicit Euler, ``y + h f(y)``: first order; unstable when ``h`` exceeds the field's
    fastest time constant (for the LTC, ``cm / den``).

    >>> Euler(4).integrate(lambda y: -y, torch.ones(1, 1), 1.0)
    tensor([[0.3164]])
    """

    order: ClassVar[int] = 1
    name: ClassVar[str] = "euler"

    def step(self, field: VectorField, y: torch.Tensor, h: Time) -> torch.Tensor:
        return y + h * field(y)


@dataclass(frozen=True)
class RK4(FixedGridSolver):
    """The classic fourth-order Runge-Kutta method (four field evaluations a step).

    >>> RK4(4).integrate(lambda y: -y, torch.ones(1, 1), 1.0)
    tensor([[0.3679]])
    """

    order: ClassVar[int] = 4
    name: ClassVar[str] = "rk4"

    def step(self, field: VectorField, y: torch.Tensor, h: Time) -> torch.Tensor:
        k1 = field(y)
        k2 = field(y + 0.5 * h * k1)
        k3 = field(y + 0.5 * h * k2)
        k4 = field(y + h * k3)
        return y + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
