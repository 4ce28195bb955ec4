"""Activation functions resolved from a name or a callable (like timm's ``get_act_layer``)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

#: LeCun's scaled tanh ``LECUN_OUT * tanh(LECUN_IN * x)`` (the fused kernels fold these).
LECUN_IN, LECUN_OUT = 0.666, 1.7159


class LeCunTanh(nn.Module):
    """``1.7159 * tanh(0.666 * x)``: the CfC paper's default backbone activation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return LECUN_OUT * torch.tanh(LECUN_IN * x)


class _Lambda(nn.Module):
    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return getattr(self.fn, "__name__", repr(self.fn))


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "lecun_tanh": LeCunTanh,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
}

Activation = str | nn.Module | type[nn.Module] | Callable[[torch.Tensor], torch.Tensor]


def get_activation(act: Activation) -> nn.Module:
    """Return a fresh activation module for a name, a module class, a module or a function.

    >>> get_activation("lecun_tanh")(torch.zeros(2)).tolist()
    [0.0, 0.0]
    """
    if isinstance(act, str):
        try:
            return ACTIVATIONS[act]()
        except KeyError:
            raise ValueError(
                f"unknown activation {act!r}; use one of {sorted(ACTIVATIONS)} or pass a callable"
            ) from None
    if isinstance(act, type) and issubclass(act, nn.Module):
        return act()
    if isinstance(act, nn.Module):
        return act
    if callable(act):
        return _Lambda(act)
    raise TypeError(f"activation must be a name or a callable, got {type(act).__name__}")
