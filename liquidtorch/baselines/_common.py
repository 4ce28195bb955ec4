"""Pieces shared by the baselines: argument checks, initialisers, the time feature, MLPs."""

from __future__ import annotations

import torch
from torch import nn

from .._utils import as_dt


def check_int(name: str, value, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")


@torch.no_grad()
def init_chunks_(weight: torch.Tensor, chunks: int, init) -> None:
    """Apply ``init`` to each gate's block of a stacked ``(chunks * n, m)`` weight, as if every
    gate had its own matrix (a recurrent block is then square and exactly orthogonal)."""
    for block in weight.chunk(chunks, dim=0):
        init(block)


def init_rnn_cell_(cell: nn.LSTMCell | nn.GRUCell, gates: int) -> None:
    """Xavier-uniform input, orthogonal recurrent weights, zero biases (per gate)."""
    init_chunks_(cell.weight_ih, gates, nn.init.xavier_uniform_)
    init_chunks_(cell.weight_hh, gates, nn.init.orthogonal_)
    nn.init.zeros_(cell.bias_ih)
    nn.init.zeros_(cell.bias_hh)


def with_time(x: torch.Tensor, dt: float | torch.Tensor) -> torch.Tensor:
    """``x`` (batch, n) with the elapsed time appended as one more feature: (batch, n + 1)."""
    dt = as_dt(dt, x)
    if isinstance(dt, float):
        column = x.new_full((x.shape[0], 1), dt)
    else:
        column = dt.expand(x.shape[0], 1)
    return torch.cat([x, column], dim=-1)


def mlp(n_in: int, n_out: int, hidden_units: int, hidden_layers: int, *, out_tanh: bool):
    """``hidden_layers`` tanh layers of ``hidden_units`` and a linear output layer (followed by
    tanh if ``out_tanh``); Xavier-uniform weights, zero biases."""
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(hidden_layers):
        layers += [nn.Linear(width, hidden_units), nn.Tanh()]
        width = hidden_units
    layers.append(nn.Linear(width, n_out))
    if out_tanh:
        layers.append(nn.Tanh())
    for m in layers:
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return nn.Sequential(*layers)
