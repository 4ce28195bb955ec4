"""LSTM baseline (Hochreiter & Schmidhuber 1997), with the elapsed time as an input feature."""

from __future__ import annotations

import torch
from torch import nn

from ..cells._base import UnitsCell
from ..layers._sequence import SequenceLayer, SequenceOptions, Unpack
from ._common import check_int, init_rnn_cell_, with_time

State = tuple[torch.Tensor, torch.Tensor]


class LSTMCell(UnitsCell):
    """One LSTM step, ``(h_next, (h_next, c_next)) = cell(x, (h, c), dt)``.

    A standard ``torch.nn.LSTMCell``. An LSTM has no notion of time, so for irregularly
    sampled sequences the elapsed time ``dt`` is appended to the input as one more feature
    (``time_input=True``), as in the LSTM baselines of the LTC and CfC papers; with
    ``time_input=False`` ``dt`` is ignored.

    Initialisation: Xavier-uniform input weights, orthogonal recurrent weights (per gate),
    zero biases except the forget gate's, which starts at 1 (Jozefowicz et al. 2015).

    Args:
        input_size: input features (without the time feature).
        units: hidden units (the output, ``h`` and ``c``).
        time_input: append ``dt`` to the input.

    Shapes: ``x`` (batch, input_size); state ``(h, c)``, each (batch, units); ``dt`` a float
    or (batch,) / (batch, 1); output (batch, units).

    >>> cell = LSTMCell(3, 16)
    >>> y, (h, c) = cell(torch.randn(5, 3), cell.init_state(5), torch.rand(5, 1))
    >>> y.shape, c.shape
    (torch.Size([5, 16]), torch.Size([5, 16]))
    """

    def __init__(self, input_size: int, units: int, *, time_input: bool = True):
        super().__init__()
        check_int("input_size", input_size, 1)
        check_int("units", units, 1)
        self._input_size, self.units, self.time_input = input_size, units, bool(time_input)
        self.lstm = nn.LSTMCell(input_size + int(self.time_input), units)
        init_rnn_cell_(self.lstm, 4)
        with torch.no_grad():
            self.lstm.bias_ih[units : 2 * units] = 1.0  # gate order i, f, g, o

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        dtype = dtype or self.lstm.weight_ih.dtype
        h = torch.zeros(batch, self.units, device=device, dtype=dtype)
        return h, torch.zeros_like(h)

    def forward(
        self, x: torch.Tensor, state: State, dt: float | torch.Tensor = 1.0
    ) -> tuple[torch.Tensor, State]:
        if self.time_input:
            x = with_time(x, dt)
        h, c = self.lstm(x, state)
        return h, (h, c)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, units={self.units}, time_input={self.time_input}"


class LSTM(SequenceLayer):
    """An LSTM over sequences, with the sequence API of :class:`~liquidtorch.LTC` /
    :class:`~liquidtorch.CfC` (timespans, lengths / mask, streaming ``step``, stacking).

    Args:
        input_size: input features.
        units: hidden units.
        time_input: append each step's elapsed time to its input (see :class:`LSTMCell`).
        sequence: ``num_layers``, ``bidirectional``, ``batch_first``,
            ``return_sequences``, ``proj_size`` (:class:`~liquidtorch.layers.SequenceOptions`).

    The state is ``(h, c)``, each (batch, units) (with a leading ``num_layers * directions``
    dimension when that is > 1).

    >>> rnn = LSTM(8, 32, proj_size=1)
    >>> y, (h, c) = rnn(torch.randn(4, 20, 8), timespans=torch.rand(4, 20) + 0.1)
    >>> y.shape, h.shape
    (torch.Size([4, 20, 1]), torch.Size([4, 32]))
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
            lambda n_in: LSTMCell(n_in, units, time_input=time_input),
            **sequence,
        )
