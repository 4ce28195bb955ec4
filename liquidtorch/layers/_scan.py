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
    the output of each sequence's last valid step (batch, out) and the final state.

    A cell may offer ``fused_scan(x, dt, valid, state)``, a whole-sequence implementation of
    this same contract (returning ``None`` where it does not apply); it is used when present.
    """
    fused = getattr(cell, "fused_scan", None)
    if fused is not None:
        if reverse:
            flip = lambda a: a if a is None or isinstance(a, float) else a.flip(0)
            out = fused(x.flip(0), flip(dt), flip(valid), state)
        else:
            out = fused(x, dt, valid, state)
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
