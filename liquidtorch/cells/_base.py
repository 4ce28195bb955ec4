"""What every cell shares: its sizes and a zero initial state.

A cell is one step with explicit state, ``(output, state) = cell(x, state, dt)``; these
bases only spare each cell the same four members.
"""

from __future__ import annotations

import torch
from torch import nn


class _ZeroState(nn.Module):
    state_size: int

    def init_state(self, batch: int, device=None, dtype=None) -> torch.Tensor:
        """Zeros (batch, state_size), in the parameters' dtype unless given."""
        dtype = dtype or next(self.parameters()).dtype
        return torch.zeros(batch, self.state_size, device=device, dtype=dtype)


class UnitsCell(_ZeroState):
    """A cell whose state and output are ``units`` wide; subclasses set ``_input_size`` and
    ``units``."""

    _input_size: int
    units: int

    @property
    def input_size(self) -> int:
        return self._input_size

    @property
    def state_size(self) -> int:
        return self.units

    @property
    def output_size(self) -> int:
        return self.units


class WiredCell(_ZeroState):
    """A cell whose sizes come from its built ``wiring``: one state per neuron, the output
    the motor neurons."""

    @property
    def input_size(self) -> int:
        return self.wiring.input_size

    @property
    def state_size(self) -> int:
        return self.wiring.units

    @property
    def output_size(self) -> int:
        return self.wiring.output_size
