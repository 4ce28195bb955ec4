"""The LTC's conductance form and the fused semi-implicit solver that needs it.

A conductance-based neuron obeys ``cm dv/dt = num(v) - den(v) * v`` with
``num = gleak * vleak + sum_i s_i * erev_i`` and ``den = gleak + sum_i s_i`` (every
conductance ``s_i >= 0``). :class:`ConductanceField` carries that form and is also a plain
vector field, so Euler and RK4 integrate it like any other; :class:`SemiImplicit` uses the
form itself and refuses a field without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch

from ._base import FixedGridSolver, Time, VectorField

#: ``v -> (num, den)``, both shaped like ``v`` (batch, units).
Terms = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True, eq=False)
class ConductanceField:
    """``cm dv/dt = num(v) - den(v) * v``: the terms, the capacitance ``cm`` (units,) and the
    ``epsilon`` a semi-implicit update adds to its denominator. Calling it gives ``dv/dt``."""

    terms: Terms
    cm: torch.Tensor
    epsilon: float = 0.0

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        num, den = self.terms(v)
        return (num - den * v) / self.cm


@dataclass(frozen=True)
class SemiImplicit(FixedGridSolver):
    """The fused semi-implicit update of the LTC paper, implicit in the leak and explicit in
    the synapses: ``v' = (cm/h * v + num) / (cm/h + den + epsilon)``. The new state is a
    weighted mean of the old state, ``vleak`` and the reversal potentials, so it stays
    bounded for any step size. First order. Needs a :class:`ConductanceField`.

    >>> field = ConductanceField(lambda v: (torch.ones_like(v), torch.ones_like(v)), torch.ones(1))
    >>> SemiImplicit(1).integrate(field, torch.zeros(1, 1), 1.0)  # (0 + 1) / (1 + 1)
    tensor([[0.5000]])
    """

    order: ClassVar[int] = 1
    name: ClassVar[str] = "semi_implicit"

    def integrate(self, field: VectorField, y: torch.Tensor, dt: Time) -> torch.Tensor:
        if not isinstance(field, ConductanceField):
            raise TypeError(
                "SemiImplicit needs a ConductanceField (cm dv/dt = num(v) - den(v) v), got "
                f"{type(field).__name__}; use Euler or RK4 for a general vector field"
            )
        return super().integrate(field, y, dt)

    def step(self, field: VectorField, y: torch.Tensor, h: Time) -> torch.Tensor:
        assert isinstance(field, ConductanceField)  # checked once in integrate
        num, den = field.terms(y)
        if y.dtype == torch.float16:
            # The same update multiplied through by h: cm / h overflows float16 (max 65504)
            # for h below ~2e-5, and the quotient of two infinities is NaN.
            return (field.cm * y + h * num) / (field.cm + h * (den + field.epsilon))
        cm_h = field.cm / h
        return (cm_h * y + num) / (cm_h + den + field.epsilon)
