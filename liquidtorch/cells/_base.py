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


def check_dtype(cell: nn.Module, x: torch.Tensor, state: torch.Tensor) -> None:
    """A clear error where the input or the state does not have the parameters' dtype (a
    matrix product deep inside the step would fail, or type promotion silently run the
    whole step in another precision)."""
    want = next(cell.parameters()).dtype
    for name, t in (("x", x), ("state", state)):
        if t.dtype != want:
            raise ValueError(
                f"{name}: dtype {t.dtype} does not match the cell's parameters ({want}); "
                f"cast it or the cell (e.g. cell.to({t.dtype}))"
            )


def _dt_floor(dtype: torch.dtype) -> float:
    info = torch.finfo(dtype)
    return min(info.tiny**0.25, info.eps**2)


_DT_FLOORS = {
    d: _dt_floor(d) for d in (torch.float16, torch.bfloat16, torch.float32, torch.float64)
}


def floor_dt(dt: float | torch.Tensor, dtype: torch.dtype) -> float | torch.Tensor:
    """Elapsed times raised to a tiny floor (float32 ~1.4e-14, float64 ~1.2e-77) so that
    ``cm / h`` and ``1 / h**2`` stay finite in the LTC's semi-implicit update and its
    gradient (below the floor a step changes the state by less than the dtype resolves).
    A tensor keeps its gradient (identity)."""
    floor = _DT_FLOORS.get(dtype) or _dt_floor(dtype)
    if not isinstance(dt, torch.Tensor):
        return max(float(dt), floor)
    low = dt.detach().clamp_min(floor)
    return dt + (low - dt.detach()) if dt.requires_grad else low
