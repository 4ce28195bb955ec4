"""Solvers for the LTC ODE, separate from the cell that defines the dynamics.

The LTC vector field has the conductance form ``cm * dv/dt = num(v) - den(v) * v`` where
``num = gleak*vleak + sum_i s_i*erev_i`` and ``den = gleak + sum_i s_i``. A solver advances ``v``
over an elapsed time ``dt`` given a function ``terms(v) -> (num, den)`` and the capacitance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch

Terms = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Solver:
    """Base class: ``unfolds`` equal sub-steps per input step."""

    unfolds: int = 6

    def __post_init__(self):
        if not isinstance(self.unfolds, int) or self.unfolds < 1:
            raise ValueError(f"unfolds must be a positive int, got {self.unfolds!r}")

    def solve(
        self, terms: Terms, cm: torch.Tensor, v: torch.Tensor, dt: torch.Tensor, eps: float
    ) -> torch.Tensor:
        """Advance ``v`` (batch, units) by ``dt`` (batch, 1) or a scalar tensor."""
        h = dt / self.unfolds
        for _ in range(self.unfolds):
            v = self.step(terms, cm, v, h, eps)
        return v

    def step(self, terms: Terms, cm, v, h, eps):  # pragma: no cover - abstract
        raise NotImplementedError

    #: Order of accuracy (global error ~ h**order); checked by the convergence tests.
    order: ClassVar[int] = 0


@dataclass(frozen=True)
class SemiImplicit(Solver):
    """The fused semi-implicit (implicit in the leak, explicit in the synapses) update of the
    LTC paper: a weighted mean of the old state, ``vleak`` and the reversal potentials, so the
    state stays bounded for any step size. First order."""

    order: ClassVar[int] = 1

    def step(self, terms, cm, v, h, eps):
        num, den = terms(v)
        cm_h = cm / h
        return (cm_h * v + num) / (cm_h + den + eps)


def _field(terms: Terms, cm, v):
    num, den = terms(v)
    return (num - den * v) / cm


@dataclass(frozen=True)
class Euler(Solver):
    """Explicit Euler: first order; unstable when ``h`` exceeds ``cm/den``."""

    order: ClassVar[int] = 1

    def step(self, terms, cm, v, h, eps):
        return v + h * _field(terms, cm, v)


@dataclass(frozen=True)
class RK4(Solver):
    """Classic fourth-order Runge-Kutta."""

    order: ClassVar[int] = 4

    def step(self, terms, cm, v, h, eps):
        k1 = _field(terms, cm, v)
        k2 = _field(terms, cm, v + 0.5 * h * k1)
        k3 = _field(terms, cm, v + 0.5 * h * k2)
        k4 = _field(terms, cm, v + h * k3)
        return v + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


__all__ = ["Solver", "SemiImplicit", "Euler", "RK4"]
