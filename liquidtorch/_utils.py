"""Small helpers shared by the cells, the baselines and the solvers (no model knowledge)."""

from __future__ import annotations

import torch


def as_dt(dt: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor | float:
    """Elapsed time as a float or a ``(batch, 1)`` tensor broadcastable against ``like``.

    >>> as_dt(torch.tensor([0.5, 2.0]), torch.zeros(2, 3, dtype=torch.float64))
    tensor([[0.5000],
            [2.0000]], dtype=torch.float64)
    >>> as_dt(torch.tensor(1.5), torch.zeros(2, 3))
    1.5
    """
    if isinstance(dt, torch.Tensor) and dt.dim() > 0:
        return dt.reshape(-1, 1).to(like.dtype)
    return float(dt)
