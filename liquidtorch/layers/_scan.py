"""The sequence loop over time: one implementation of the contract every cell follows,
``(output, state) = cell(x, state, dt)``, and the entry point of the fused whole-sequence
paths that implement the same contract."""

from __future__ import annotations

import torch
from torch import nn

State = torch.Tensor | tuple[torch.Tensor, ...]


def _where(m: torch.Tensor, a: State, b: State) -> State:
    if isinstance(a, tuple):
        return tuple(torch.where(m, x, y) for x, y in zip(a, b, strict=True))
    return torch.where(m, a, b)


def _shapes(s: State):
    return tuple(tuple(t.shape) for t in s) if isinstance(s, tuple) else tuple(s.shape)


def _time_batch(dt: float | torch.Tensor) -> float | torch.Tensor:
    """A float, or (time, batch, 1) -> (time, batch)."""
    return dt if isinstance(dt, float) else dt.squeeze(-1)


def _fused(cell, x, dt, valid, state):
    """Outputs, last valid outputs and final state from the cell's whole-sequence states."""
    states = cell.fused_states(x, _time_batch(dt), valid, state)
    if states is None:
        return None
    ys = cell.output_of(states)
    final = tuple(s[-1] for s in states) if isinstance(states, tuple) else states[-1]
    last = ys[-1]  # invalid steps held the state: the output of the last valid one
    if valid is not None:
        zero = torch.zeros((), dtype=ys.dtype, device=ys.device)
        ys = torch.where(valid.unsqueeze(-1), ys, zero)
        last = torch.where(valid.any(0).unsqueeze(-1), last, zero)
    return ys, last, final


def scan(
    cell: nn.Module,
    x: torch.Tensor,
    dt: float | torch.Tensor,
    valid: torch.Tensor | None,
    state: State,
    reverse: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, State]:
    """Run ``cell`` over time-major ``x`` (time, batch, features).

    ``dt`` is a float or (time, batch, 1); ``valid`` None or (time, batch) bool: at invalid
    steps the state is held and the output is zero. Returns the outputs (time, batch, out),
    the output of each sequence's last valid step (batch, out; zero for a sequence without
    one) and the final state.

    The fused contract: a cell may offer ``fused_states(x, dt, valid, state)``, the states
    after every step (time, batch, state_size) (a tuple of such for a tuple state) computed
    at once, where invalid steps hold the state, with ``dt`` a float or (time, batch); and
    ``output_of(states)``, the outputs of states. ``fused_states`` returns ``None`` where it
    does not apply. Masking, last valid outputs and reversal are done here, for the fused
    and the reference path alike.
    """
    if getattr(cell, "fused_states", None) is not None:
        if reverse:
            flip = lambda a: a if a is None or isinstance(a, float) else a.flip(0)
            out = _fused(cell, x.flip(0), flip(dt), flip(valid), state)
        else:
            out = _fused(cell, x, dt, valid, state)
        if out is not None:
            ys, last, state = out
            return (ys.flip(0) if reverse else ys), last, state
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    ys: list[torch.Tensor] = []
    last = None
    for t in steps:
        y, new = cell(x[t], state, dt if isinstance(dt, float) else dt[t])
        if valid is None:
            state, last = new, y
        else:
            m = valid[t].unsqueeze(-1)
            state = _where(m, new, state)
            y = torch.where(m, y, torch.zeros_like(y))
            last = y if last is None else torch.where(m, y, last)
        ys.append(y)
    if reverse:
        ys.reverse()
    return torch.stack(ys), last, state
