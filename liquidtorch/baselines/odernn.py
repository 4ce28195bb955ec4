"""ODE-RNN baseline (Rubanova, Chen & Duvenaud 2019, "Latent ODEs for irregularly-sampled
time series")."""

from __future__ import annotations

import torch
from torch import nn

from .._utils import as_dt
from ..cells._base import UnitsCell
from ..layers._sequence import SequenceLayer, SequenceOptions, Unpack
from ._common import check_int, init_rnn_cell_, mlp
from ._ode import Integrator, ODEMethod


class ODERNNCell(UnitsCell):
    """One step of an ODE-RNN: ``(h_next, h_next) = cell(x, h, dt)``.

    Between observations the state evolves by an autonomous ODE, then the observation updates
    it (Rubanova et al. 2019, Algorithm 1)::

        h' = ODESolve(f_theta, h, (0, dt))      dh/dt = f_theta(h)
        h_next = GRUCell(x, h')

    ``f_theta`` is an MLP (``hidden_layers`` tanh layers of ``hidden_units``, then a linear
    layer), integrated by ``unfolds`` fixed RK4 steps (default), Euler steps, or adaptive
    dopri5 (``method="dopri5"``, tolerances ``rtol`` / ``atol``; needs torchdiffeq). With
    ``dt = 0`` only the GRU update applies.

    Initialisation: Xavier-uniform MLP and GRU input weights, orthogonal GRU recurrent
    weights (per gate), zero biases.

    Args:
        input_size: input features.
        units: hidden units (the state and the output).
        hidden_units: width of the ODE MLP's hidden layers (default ``units``).
        hidden_layers: hidden layers of the ODE MLP.
        method: :class:`ODEMethod` (rk4 / euler / dopri5).
        unfolds: fixed steps per input step (RK4, Euler).
        rtol, atol: dopri5's tolerances.

    Shapes: ``x`` (batch, input_size), ``h`` (batch, units), ``dt`` a float or (batch,) /
    (batch, 1); output (batch, units).

    >>> cell = ODERNNCell(3, 16)
    >>> y, h = cell(torch.randn(5, 3), cell.init_state(5), torch.rand(5, 1))
    >>> y.shape
    torch.Size([5, 16])
    """

    def __init__(
        self,
        input_size: int,
        units: int,
        *,
        hidden_units: int | None = None,
        hidden_layers: int = 1,
        method: ODEMethod | str = ODEMethod.RK4,
        unfolds: int = 6,
        rtol: float = 1e-3,
        atol: float = 1e-4,
    ):
        super().__init__()
        check_int("input_size", input_size, 1)
        check_int("units", units, 1)
        check_int("hidden_layers", hidden_layers, 0)
        hidden_units = units if hidden_units is None else hidden_units
        check_int("hidden_units", hidden_units, 1)
        self._input_size, self.units = input_size, units
        self.integrator = Integrator(method, unfolds, rtol, atol)
        self.f = mlp(units, units, hidden_units, hidden_layers, out_tanh=False)
        self.gru = nn.GRUCell(input_size, units)
        init_rnn_cell_(self.gru, 3)

    def evolve(self, h: torch.Tensor, dt: float | torch.Tensor) -> torch.Tensor:
        """The state after ``dt`` without observations: ``h(dt)`` from ``dh/dt = f(h)``."""
        return self.integrator(self.f, h, as_dt(dt, h))

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, dt: float | torch.Tensor = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.gru(x, self.evolve(h, dt))
        return h, h

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, units={self.units}, solver={self.integrator}"


class ODERNN(SequenceLayer):
    """An ODE-RNN over sequences, with the sequence API of the liquid layers.

    Args:
        input_size: input features.
        units: hidden units.
        hidden_units, hidden_layers, method, unfolds, rtol, atol: see :class:`ODERNNCell`
            (same defaults).
        sequence: ``num_layers``, ``bidirectional``, ``batch_first``,
            ``return_sequences``, ``proj_size`` (:class:`~liquidtorch.layers.SequenceOptions`).

    >>> rnn = ODERNN(8, 32, unfolds=2)
    >>> y, h = rnn(torch.randn(4, 20, 8), timespans=torch.rand(4, 20) + 0.1)
    >>> y.shape, h.shape
    (torch.Size([4, 20, 32]), torch.Size([4, 32]))
    """

    def __init__(
        self,
        input_size: int,
        units: int,
        *,
        hidden_units: int | None = None,
        hidden_layers: int = 1,
        method: ODEMethod | str = ODEMethod.RK4,
        unfolds: int = 6,
        rtol: float = 1e-3,
        atol: float = 1e-4,
        **sequence: Unpack[SequenceOptions],
    ):
        super().__init__(
            input_size,
            lambda n_in: ODERNNCell(
                n_in,
                units,
                hidden_units=hidden_units,
                hidden_layers=hidden_layers,
                method=method,
                unfolds=unfolds,
                rtol=rtol,
                atol=atol,
            ),
            **sequence,
        )
