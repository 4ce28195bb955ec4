"""Mixed memory: an LSTM cell in front of a liquid cell (Lechner & Hasani 2020)."""

from __future__ import annotations

import torch
from torch import nn

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

    def forward(
        self, x: torch.Tensor, state: State, dt: float | torch.Tensor = 1.0
    ) -> tuple[torch.Tensor, State]:
        h, c = self.lstm(x, state)
        y, h = self.cell(x, h, dt)
        return y, (h, c)
