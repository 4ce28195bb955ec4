"""Adaptive step-size integration through torchdiffeq (an optional dependency)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import ClassVar

import torch

from ._base import Solver, Time, VectorField


@dataclass(frozen=True)
class Dopri5(Solver):
    """Dormand-Prince 5(4) with step-size control (``torchdiffeq.odeint``), to tolerances
    ``rtol`` / ``atol``. Needs torchdiffeq (``pip install "liquidtorch[ode]"``).

    torchdiffeq wants one time grid for the whole batch, so time is rescaled to
    ``s in [0, 1]`` with ``dy/ds = dt * f(y)``: a per-sample ``dt`` (batch, 1) then works,
    and the step-size control sees every sample's own time scale.
    """

    rtol: float = 1e-3
    atol: float = 1e-4

    order: ClassVar[int] = 5
    name: ClassVar[str] = "dopri5"

    def __post_init__(self) -> None:
        if not (self.rtol > 0 and self.atol > 0):
            raise ValueError(f"rtol and atol must be > 0, got {self.rtol!r}, {self.atol!r}")
        if importlib.util.find_spec("torchdiffeq") is None:
            raise ImportError(
                'dopri5 needs torchdiffeq: pip install torchdiffeq (or "liquidtorch[ode]")'
            )

    def integrate(self, field: VectorField, y: torch.Tensor, dt: Time) -> torch.Tensor:
        from torchdiffeq import odeint  # optional dependency, imported only when used

        s = torch.tensor([0.0, 1.0], dtype=y.dtype, device=y.device)
        return odeint(
            lambda _, z: dt * field(z), y, s, method="dopri5", rtol=self.rtol, atol=self.atol
        )[-1]

    def __str__(self) -> str:
        return f"dopri5(rtol={self.rtol}, atol={self.atol})"
