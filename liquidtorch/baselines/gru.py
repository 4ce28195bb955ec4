"""GRU baseline (Cho et al. 2014), with the elapsed time as an input feature."""

from __future__ import annotations

import torch
from torch import nn

from ..cells._base import UnitsCell
from ..layers._sequence import SequenceLayer, SequenceOptions, Unpack
from ._common import check_int, init_rnn_cell_, with_time


class GRUCell(UnitsCell):
    """One GRU step, ``(h_next, h_next) = cell(x, h, dt)``.

    A standard ``torch.nn.GRUCell``. For irregularly sampled sequences the elapsed time
    ``dt`` is appended to the input as one more feature (``time_input=True``), as in the
    papers' RNN baselines; with ``time_input=False`` ``dt`` is ignored.

    Initialisation: Xavier-uniform input weights, orthogonal recurrent weights (per gate),
    zero biases.

    Args:
        input_size: input features (without the time feature).
        units: hidden units (the state and the output).
        time_input: append ``dt`` to the input.

    Shapes: ``x`` (batch, input_size), ``h`` (batch, units), ``dt`` a float or (batch,) /
    (batch, 1); output (batch, units).

    >>> cell = GRUCell(3, 16)
    >>> y, h = cell(torch.randn(5, 3), cell.init_state(5), 0.5)
    >>> y.shape
    torch.Size([5, 16])
    """

    def __init__(self, input_size: int, units: int, *, time_input: bool = True):
        super().__init__()
        check_int("input_size", input_size, 1)
        check_int("units", units, 1)
        self._input_size, self.units, self.time_input = input_size, units, bool(time_input)
        self.gru = nn.GRUCell(input_size + int(self.time_input), units)
        init_rnn_cell_(self.gru, 3)

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, dt: float | torch.Tensor = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.time_input:
            x = with_time(x, dt)
        h = self.gru(x, h)
        return h, h

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, units={self.units}, time_input={self.time_input}"


class GRU(SequenceLayer):
    """A GRU over sequences, with the sequence API of the liquid layers.

    Args:
        input_size: input features.
        units: hidden units.
        time_input: append each step's elapsed time to its input (see :class:`GRUCell`).
        sequence: ``num_layers``, ``bidirectional``, ``batch_first``,
            ``return_sequences``, ``proj_size`` (:class:`~liquidtorch.layers.SequenceOptions`).

    >>> rnn = GRU(8, 32)
    >>> y, h = rnn(torch.randn(4, 20, 8), timespans=torch.rand(4, 20) + 0.1)
    >>> y.shape, h.shape
    (torch.Size([4, 20, 32]), torch.Size([4, 32]))
    """

    def __init__(
        self,
        input_size: int,
        units: int,
        *,
        time_input: bool = True,
        **sequence: Unpack[SequenceOptions],
    ):
        super().__init__(
            input_size,
            lambda n_in: GRUCell(n_in, units, time_input=time_input),
            **sequence,
        )
