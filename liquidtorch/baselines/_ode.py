"""How an ODE baseline names its solver: a method and its settings, resolved to one of the
solvers of :mod:`liquidtorch.solvers` (the same classes the LTC uses).

A baseline's vector field is a plain function ``dh/dt = f(h)`` (the input is held constant
over a step, so it is closed over by ``f``); every solver of the family integrates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import torch

from ..cells.options import coerce
from ..solvers import SOLVERS, Dopri5, FixedGridSolver, Solver, Time, VectorField


class ODEMethod(str, Enum):
    """How a baseline integrates its ODE over the elapsed time ``dt`` of a step (the values
    are solver names of :data:`liquidtorch.solvers.SOLVERS`)."""

    EULER = "euler"  # explicit Euler, ``unfolds`` fixed steps, first order
    RK4 = "rk4"  # classic Runge-Kutta, ``unfolds`` fixed steps, fourth order
    DOPRI5 = "dopri5"  # adaptive Dormand-Prince from torchdiffeq (optional dependency)


#: The fixed-grid solver of each fixed-step method.
FIXED: dict[ODEMethod, type[FixedGridSolver]] = {
    m: cls for m in ODEMethod if issubclass(cls := SOLVERS[m.value], FixedGridSolver)
}

#: Order of accuracy of the fixed-step methods (global error ~ (dt / unfolds) ** order).
ORDER = {method: solver.order for method, solver in FIXED.items()}


@dataclass(frozen=True)
class Integrator:
    """A method with its settings: ``unfolds`` for the fixed-step methods, ``rtol`` / ``atol``
    for dopri5. ``solver`` is the resolved :class:`~liquidtorch.solvers.Solver`; calling the
    integrator integrates ``f`` from ``h`` over ``dt`` with it.

    >>> Integrator("rk4", 2).solver
    RK4(unfolds=2)
    """

    method: ODEMethod | str = ODEMethod.RK4  # a str is converted to ODEMethod
    unfolds: int = 6
    rtol: float = 1e-3
    atol: float = 1e-4
    solver: Solver = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        method = coerce(ODEMethod, self.method, "method")
        object.__setattr__(self, "method", method)
        solver: Solver
        if method is ODEMethod.DOPRI5:
            solver = Dopri5(self.rtol, self.atol)
        else:
            solver = FIXED[method](self.unfolds)
        object.__setattr__(self, "solver", solver)

    def __call__(self, f: VectorField, h: torch.Tensor, dt: Time) -> torch.Tensor:
        return self.solver.integrate(f, h, dt)

    def __str__(self) -> str:
        return str(self.solver)


def odeint_fixed(
    f: VectorField,
    h: torch.Tensor,
    dt: Time,
    unfolds: int,
    method: ODEMethod | str = ODEMethod.RK4,
) -> torch.Tensor:
    """Advance ``h`` (batch, n) by ``dt`` (a float or (batch, 1)) in ``unfolds`` equal steps.

    >>> odeint_fixed(lambda h: -h, torch.ones(2, 1), torch.tensor([[0.5], [1.0]]), 8)
    tensor([[0.6065],
            [0.3679]])
    """
    method = coerce(ODEMethod, method, "method")
    if method not in FIXED:
        raise ValueError(f"odeint_fixed: {method.value} is not a fixed-step method")
    return FIXED[method](unfolds).integrate(f, h, dt)
