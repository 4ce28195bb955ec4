"""Continuous-time RNN baseline (Funahashi & Nakamura 1993; the LTC paper's CT-RNN)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._utils import as_dt
from ..cells._base import UnitsCell
from ..layers._sequence import SequenceLayer, SequenceOptions, Unpack
from ._common import check_int
from ._ode import Integrator, ODEMethod


class CTRNNCell(UnitsCell):
    """One step of a continuous-time RNN: ``(h_next, h_next) = cell(x, h, dt)``.

    The state follows ``dh/dt = (-h + tanh(W_in x + W_h h + b)) / tau``, with the input held
    over the step and a learned time constant per unit, ``tau = softplus(raw_tau) > 0``,
    integrated over ``dt`` by ``unfolds`` fixed steps of explicit Euler (the LTC paper's CT-RNN
    baseline; default) or RK4, or by dopri5 (needs torchdiffeq). ``dt = 0`` leaves ``h``
    unchanged.

    Initialisation: Xavier-uniform ``W_in``, orthogonal ``W_h``, zero ``b``, ``tau = tau_init``.

    Args:
        input_size: input features.
        units: hidden units (the state and the output).
        method: :class:`ODEMethod` (euler / rk4 / dopri5).
        unfolds: fixed steps per input step (Euler, RK4).
        tau_init: initial time constant of every unit.

    Shapes: ``x`` (batch, input_size), ``h`` (batch, units), ``dt`` a float or (batch,) /
    (batch, 1); output (batch, units).

    >>> cell = CTRNNCell(3, 16, method="rk4")
    >>> y, h = cell(torch.randn(5, 3), cell.init_state(5), torch.rand(5, 1))
    >>> y.shape
    torch.Size([5, 16])
    """

    def __init__(
        self,
        input_size: int,
        units: int,
        *,
        method: ODEMethod | str = ODEMethod.EULER,
        unfolds: int = 6,
        tau_init: float = 1.0,
    ):
        super().__init__()
        check_int("input_size", input_size, 1)
        check_int("units", units, 1)
        if not tau_init > 0:
            raise ValueError(f"tau_init must be > 0, got {tau_init!r}")
        self._input_size, self.units = input_size, units
        self.integrator = Integrator(method, unfolds)
        self.input_map = nn.Linear(input_size, units)  # W_in x + b
        self.recurrent_map = nn.Linear(units, units, bias=False)  # W_h h
        nn.init.xavier_uniform_(self.input_map.weight)
        nn.init.zeros_(self.input_map.bias)
        nn.init.orthogonal_(self.recurrent_map.weight)
        # Inverse softplus, so that tau starts at tau_init.
        self.raw_tau = nn.Parameter(torch.full((units,), math.log(math.expm1(tau_init))))

    @property
    def tau(self) -> torch.Tensor:
        """The time constants (units,), positive by construction."""
        return F.softplus(self.raw_tau)

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, dt: float | torch.Tensor = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        u, tau = self.input_map(x), self.tau  # constant over the step: computed once

        def field(h: torch.Tensor) -> torch.Tensor:
            return (torch.tanh(u + self.recurrent_map(h)) - h) / tau

        h = self.integrator(field, h, as_dt(dt, h))
        return h, h

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, units={self.units}, solver={self.integrator}"


class CTRNN(SequenceLayer):
    """A continuous-time RNN over sequences, with the sequence API of the liquid layers.

    Args:
        input_size: input features.
        units: hidden units.
        method, unfolds, tau_init: see :class:`CTRNNCell` (same defaults).
        sequence: ``num_layers``, ``bidirectional``, ``batch_first``,
            ``return_sequences``, ``proj_size`` (:class:`~liquidtorch.layers.SequenceOptions`).

    >>> rnn = CTRNN(8, 32, method="rk4", unfolds=4)
    >>> y, h = rnn(torch.randn(4, 20, 8), timespans=torch.rand(4, 20) + 0.1)
    >>> y.shape, h.shape
    (torch.Size([4, 20, 32]), torch.Size([4, 32]))
    """

    def __init__(
        self,
        input_size: int,
        units: int,
        *,
        method: ODEMethod | str = ODEMethod.EULER,
        unfolds: int = 6,
        tau_init: float = 1.0,
        **sequence: Unpack[SequenceOptions],
    ):
        super().__init__(
            input_size,
            lambda n_in: CTRNNCell(n_in, units, method=method, unfolds=unfolds, tau_init=tau_init),
            **sequence,
        )
