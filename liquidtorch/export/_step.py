"""A trained model as one step with a flat state: what every exporter translates.

:class:`StepModule` wraps a sequence layer (``LTC``, ``CfC``, a baseline) or a zoo
``SequenceModel`` (layer + linear head) as ``(y, state) = step(x, state, dt)`` with
``x`` (batch, input_size), ``state`` (batch, state_size), ``dt`` (batch, 1). The state is
every cell's state side by side (``[h, c]`` for mixed memory; stacked layers one after the
other), so a runtime keeps one array per stream. It calls each cell's reference
``forward`` (plain tensor operations), never the fused numba kernels, so it traces and
exports like any module.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ..layers import SequenceLayer


def split_model(model: nn.Module) -> tuple[SequenceLayer, nn.Linear | None]:
    """The sequence layer and the linear head (None for a bare layer) of ``model``."""
    if isinstance(model, SequenceLayer):
        return model, None
    layer, head = getattr(model, "layer", None), getattr(model, "head", None)
    if getattr(model, "pool", "last") != "last" and not getattr(model, "per_step", True):
        raise ValueError(
            "model: a head that pools over the sequence (head='mean') has no step-by-step "
            "form yet; export and stream models with the last-step head"
        )
    if isinstance(layer, SequenceLayer) and isinstance(head, nn.Linear):
        return layer, head
    raise TypeError(
        "model must be a sequence layer (LTC, CfC, a baseline) or a zoo SequenceModel "
        f"(.layer and .head), got {type(model).__name__}"
    )


def inference_copy(model: nn.Module) -> nn.Module:
    """A float32, CPU, eval-mode copy of ``model`` (exports never change the caller's)."""
    return copy.deepcopy(model).float().cpu().eval()


def cell_shape(cell: Any) -> tuple[int, int]:
    """``(parts, size)`` of a cell's state: ``(2, n)`` for an ``(h, c)`` state."""
    probe = cell.init_state(1)
    return (len(probe) if isinstance(probe, tuple) else 1), int(cell.state_size)


class StepModule(nn.Module):
    """One step of ``model`` with a flat state (see the module docstring).

    >>> from liquidtorch import CfC
    >>> step = StepModule(CfC(3, 8, mixed_memory=True))
    >>> y, s = step(torch.randn(2, 3), step.init_state(2), torch.ones(2, 1))
    >>> y.shape, s.shape
    (torch.Size([2, 8]), torch.Size([2, 16]))
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        layer, head = split_model(model)
        if layer.bidirectional:
            raise ValueError("model: a bidirectional layer has no step; export needs one direction")
        self.cells = layer.cells
        self.proj = layer.proj
        self.head = head
        self.shapes = [cell_shape(c) for c in self.cells]
        self.input_size: int = layer.input_size
        self.state_size = sum(parts * n for parts, n in self.shapes)
        self.output_size: int = head.out_features if head is not None else layer.output_size

    def init_state(self, batch: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.zeros(batch, self.state_size, dtype=dtype)

    def forward(
        self, x: torch.Tensor, state: torch.Tensor, dt: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (batch, input_size), ``state`` (batch, state_size), ``dt`` (batch, 1) ->
        ``y`` (batch, output_size), the new state (batch, state_size)."""
        new: list[torch.Tensor] = []
        offset, y = 0, x
        for cell, (parts, n) in zip(self.cells, self.shapes, strict=True):
            pieces = [state[:, offset + k * n : offset + (k + 1) * n] for k in range(parts)]
            offset += parts * n
            y, s = cell(y, tuple(pieces) if parts > 1 else pieces[0], dt)
            new.extend(s if parts > 1 else [s])
        if self.proj is not None:
            y = self.proj(y)
        if self.head is not None:
            y = self.head(y)
        return y, torch.cat(new, dim=-1)
