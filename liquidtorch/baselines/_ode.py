"""A tiny generic ODE integrator for the baselines.

The solvers of :mod:`liquidtorch.solvers` take the LTC's conductance form
``cm dv/dt = num(v) - den(v) v``; the baselines' vector fields are plain functions
``dh/dt = f(h)`` (the input is held constant over a step, so it is closed over by ``f``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import torch

from ..cells.options import coerce

Field = Callable[[torch.Tensor], torch.Tensor]


class ODEMethod(str, Enum):
    """How a baseline integrates its ODE over the elapsed time ``dt`` of a step."""

    EULER = "euler"  # explicit Euler, ``unfolds`` fixed steps, first order
    RK4 = "rk4"  # classic Runge-Kutta, ``unfolds`` fixed steps, fourth order
    DOPRI5 = "dopri5"  # adaptive Dormand-Prince from torchdiffeq (optional dependency)


#: Order of accuracy of the fixed-step methods (global error ~ (dt / unfolds) ** order).
ORDER = {ODEMethod.EULER: 1, ODEMethod.RK4: 4}


def odeint_fixed(
    f: Field,
    h: torch.Tensor,
    dt: float | torch.Tensor,
    unfolds: int,
    method: ODEMethod | str = ODEMethod.RK4,
) -> torch.Tensor:
    """Advance ``h`` (batch, n) by ``dt`` (a float or (batch, 1)) in ``unfolds`` equal steps.

    >>> odeint_fixed(lambda h: -h, torch.ones(2, 1), torch.tensor([[0.5], [1.0]]), 8)
    tensor([[0.6065],
            [0.3679]])
    """
    method = coerce(ODEMethod, method, "method")
    if method not in ORDER:
        raise ValueError(f"odeint_fixed: {method.value} is not a fixed-step method")
    step = dt / unfolds
    for _ in range(unfolds):
        if method is ODEMethod.EULER:
            h = h + step * f(h)
        else:
            k1 = f(h)
            k2 = f(h + 0.5 * step * k1)
            k3 = f(h + 0.5 * step * k2)
            k4 = f(h + step * k3)
            h = h + step / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return h


def odeint_adaptive(
    f: Field, h: torch.Tensor, dt: float | torch.Tensor, *, rtol: float, atol: float
) -> torch.Tensor:
    """``torchdiffeq.odeint`` with dopri5 over ``[0, dt]``.

    torchdiffeq wants one time grid for the whole batch, so time is rescaled to ``s in
    [0, 1]`` with ``dh/ds = dt * f(h)``: per-sample ``dt`` (batch, 1) then works, and the step
    size control sees every sample's own time scale.
    """
    from torchdiffeq import odeint  # optional dependency, imported only when used

    s = torch.tensor([0.0, 1.0], dtype=h.dtype, device=h.device)
    return odeint(lambda _, y: dt * f(y), h, s, method="dopri5", rtol=rtol, atol=atol)[-1]


@dataclass(frozen=True)
class Integrator:
    """A method with its settings: ``unfolds`` for the fixed-step methods, ``rtol`` / ``atol``
    for dopri5. Calling it integrates ``f`` from ``h`` over ``dt``."""

    method: ODEMethod = ODEMethod.RK4
    unfolds: int = 6
    rtol: float = 1e-3
    atol: float = 1e-4

    def __post_init__(self):
        object.__setattr__(self, "method", coerce(ODEMethod, self.method, "method"))
        if not isinstance(self.unfolds, int) or self.unfolds < 1:
            raise ValueError(f"unfolds must be a positive int, got {self.unfolds!r}")
        if self.method is ODEMethod.DOPRI5 and importlib.util.find_spec("torchdiffeq") is None:
            raise ImportError("method='dopri5' needs torchdiffeq: pip install torchdiffeq")

    def __call__(self, f: Field, h: torch.Tensor, dt: float | torch.Tensor) -> torch.Tensor:
        if self.method is ODEMethod.DOPRI5:
            return odeint_adaptive(f, h, dt, rtol=self.rtol, atol=self.atol)
        return odeint_fixed(f, h, dt, self.unfolds, self.method)

    def __str__(self) -> str:
        if self.method is ODEMethod.DOPRI5:
            return f"dopri5(rtol={self.rtol}, atol={self.atol})"
        return f"{self.method.value}({self.unfolds})"
