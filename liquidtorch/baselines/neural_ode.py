"""Neural ODE baseline (Chen et al. 2018, as the RNN baseline "Neural ODE" of the LTC paper)."""

from __future__ import annotations

import torch

from .._utils import as_dt
from ..cells._base import UnitsCell
from ..layers._sequence import SequenceLayer, SequenceOptions, Unpack
from ._common import check_int, mlp
from ._ode import Integrator, ODEMethod


class NeuralODECell(UnitsCell):
    """One step of a Neural ODE RNN: ``(h_next, h_next) = cell(x, h, dt)``.

    The state follows ``dh/dt = f_theta([x, h])`` with the input held over the step, where
    ``f_theta`` is a tanh MLP (``hidden_layers`` tanh layers of ``hidden_units``, then a
    linear layer to ``units`` and a tanh, so the field is bounded), integrated over ``dt`` by
    ``unfolds`` fixed RK4 steps (default), Euler steps, or dopri5 (needs torchdiffeq).
    ``hidden_layers=0`` is the LTC paper's baseline exactly: ``f = tanh(W [x, h] + b)``.
    ``dt = 0`` leaves ``h`` unchanged.

    Initialisation: Xavier-uniform weights, zero biases.

    Args:
        input_size: input features.
        units: hidden units (the state and the output).
        hidden_units: width of the MLP's hidden layers (default ``units``).
        hidden_layers: hidden layers of the MLP.
        method: :class:`ODEMethod` (rk4 / euler / dopri5).
        unfolds: fixed steps per input step (RK4, Euler).

    Shapes: ``x`` (batch, input_size), ``h`` (batch, units), ``dt`` a float or (batch,) /
    (batch, 1); output (batch, units).

    >>> cell = NeuralODECell(3, 16)
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
    ):
        super().__init__()
        check_int("input_size", input_size, 1)
        check_int("units", units, 1)
        check_int("hidden_layers", hidden_layers, 0)
        hidden_units = units if hidden_units is None else hidden_units
        check_int("hidden_units", hidden_units, 1)
        self._input_size, self.units = input_size, units
        self.integrator = Integrator(method, unfolds)
        self.f = mlp(input_size + units, units, hidden_units, hidden_layers, out_tanh=True)

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, dt: float | torch.Tensor = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.integrator(lambda h: self.f(torch.cat([x, h], dim=-1)), h, as_dt(dt, h))
        return h, h

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, units={self.units}, solver={self.integrator}"


class NeuralODE(SequenceLayer):
    """A Neural ODE RNN over sequences, with the sequence API of the liquid layers.

    Args:
        input_size: input features.
        units: hidden units.
        hidden_units, hidden_layers, method, unfolds: see :class:`NeuralODECell` (same
            defaults).
        sequence: ``num_layers``, ``bidirectional``, ``batch_first``,
            ``return_sequences``, ``proj_size`` (:class:`~liquidtorch.layers.SequenceOptions`).

    >>> rnn = NeuralODE(8, 32, unfolds=3)
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
        **sequence: Unpack[SequenceOptions],
    ):
        super().__init__(
            input_size,
            lambda n_in: NeuralODECell(
                n_in,
                units,
                hidden_units=hidden_units,
                hidden_layers=hidden_layers,
                method=method,
                unfolds=unfolds,
            ),
            **sequence,
        )
