"""Mixed memory: an LSTM cell in front of a liquid cell (Lechner & Hasani 2020)."""

from __future__ import annotations

import torch
from torch import nn

from ._base import check_dtype

State = tuple[torch.Tensor, torch.Tensor]


class MemoryLSTMCell(nn.Module):
    """The LSTM of mixed memory: forget-gate bias +1, Xavier input / orthogonal recurrent
    weights (the ncps reference). State ``(h, c)``, each (batch, hidden_size)."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_map = nn.Linear(input_size, 4 * hidden_size)
        self.recurrent_map = nn.Linear(hidden_size, 4 * hidden_size, bias=False)
        nn.init.xavier_uniform_(self.input_map.weight)
        nn.init.uniform_(self.input_map.bias, -0.1, 0.1)
        nn.init.orthogonal_(self.recurrent_map.weight)

    def forward(self, x: torch.Tensor, state: State) -> State:
        h, c = state
        z = self.input_map(x) + self.recurrent_map(h)
        i, ig, fg, og = z.chunk(4, dim=-1)
        c = c * torch.sigmoid(fg + 1.0) + torch.tanh(i) * torch.sigmoid(ig)
        return torch.tanh(c) * torch.sigmoid(og), c


class MixedMemoryCell(nn.Module):
    """Wraps any liquid cell: the LSTM runs first on ``(x, (h, c))`` and its output replaces
    ``h`` before the liquid update. State ``(h, c)``.

    >>> from liquidtorch.cells import CfCCell
    >>> cell = MixedMemoryCell(CfCCell(3, 8))
    >>> y, (h, c) = cell(torch.randn(2, 3), cell.init_state(2))
    """

    def __init__(self, cell: nn.Module):
        super().__init__()
        self.cell = cell
        self.lstm = MemoryLSTMCell(cell.input_size, cell.state_size)

    input_size = property(lambda self: self.cell.input_size)
    state_size = property(lambda self: self.cell.state_size)
    output_size = property(lambda self: self.cell.output_size)

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        h = self.cell.init_state(batch, device, dtype)
        return h, torch.zeros_like(h)

    def synapse_masks(self) -> dict[str, torch.Tensor]:
        """The wrapped cell's :meth:`synapse_masks` under its name here (``"cell.w"``);
        empty for a cell without masks (the LSTM uses every weight)."""
        inner = getattr(self.cell, "synapse_masks", None)
        return {} if inner is None else {f"cell.{k}": m for k, m in inner().items()}

    def fused_states(self, x: torch.Tensor, dt, valid, state: State):
        """States ``(h, c)`` (each (time, batch, units)) of the whole sequence in one fused
        pass where the wrapped cell offers ``fused_mixed_states`` (the contract of
        :func:`liquidtorch.layers.scan`); ``None`` otherwise."""
        fused = getattr(self.cell, "fused_mixed_states", None)
        if (
            fused is None
            or type(self.lstm) is not MemoryLSTMCell
            or any(p.dtype != x.dtype or p.device != x.device for p in self.lstm.parameters())
        ):
            return None
        return fused(self.lstm, x, dt, valid, state)

    def output_of(self, states: State) -> torch.Tensor:
        """The outputs for states ``(h, c)``: the wrapped cell's for ``h``."""
        return self.cell.output_of(states[0])

    def forward(
        self, x: torch.Tensor, state: State, dt: float | torch.Tensor = 1.0
    ) -> tuple[torch.Tensor, State]:
        check_dtype(self, x, state[0])
        h, c = self.lstm(x, state)
        y, h = self.cell(x, h, dt)
        return y, (h, c)
