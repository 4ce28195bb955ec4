"""Integrated gradients (Sundararajan et al. 2017) over a sequence's inputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Attribution:
    """``values`` has the input's shape, e.g. (n, time, features): each input's share of
    ``f(x) - f(baseline)``; ``delta`` (n,) the completeness error ``values.sum() -
    (f(x) - f(baseline))`` per sequence (small when ``steps`` suffice)."""

    values: torch.Tensor
    delta: torch.Tensor
    difference: torch.Tensor  # f(x) - f(baseline), (n,)


def integrated_gradients(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    baseline: torch.Tensor | None = None,
    *,
    steps: int = 32,
    chunk: int = 256,
) -> Attribution:
    """Attribute the scalar ``fn(x)`` (``fn``: (n, ...) -> (n,)) to each entry of ``x``.

    The path integral of the gradient from ``baseline`` (zeros: the training mean of
    standardised inputs) to ``x`` by the midpoint rule with ``steps`` points; ``chunk``
    bounds how many path points go through ``fn`` at once.

    >>> a = integrated_gradients(lambda x: (x**2).sum(-1), torch.ones(1, 3), steps=8)
    >>> a.values
    tensor([[1., 1., 1.]])
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    baseline = torch.zeros_like(x) if baseline is None else baseline.expand_as(x)
    diff = (x - baseline).detach()
    alphas = (torch.arange(steps, dtype=x.dtype) + 0.5) / steps
    n = x.shape[0]
    total = torch.zeros_like(x)
    shape = (-1,) + (1,) * x.dim()
    path_alphas = alphas.reshape(shape)
    points = (baseline.unsqueeze(0) + path_alphas * diff.unsqueeze(0)).reshape(-1, *x.shape[1:])
    for start in range(0, len(points), chunk):
        part = points[start : start + chunk].detach().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(fn(part).sum(), part)
        total += _fold(grad, start, n)
    values = diff * total / steps
    with torch.no_grad():
        difference = fn(x) - fn(baseline)
    delta = values.reshape(n, -1).sum(1) - difference
    return Attribution(values, delta, difference)


def _fold(grad: torch.Tensor, start: int, n: int) -> torch.Tensor:
    """Sum the gradients of path points ``start..`` (ordered step-major) onto their inputs."""
    out = torch.zeros((n, *grad.shape[1:]), dtype=grad.dtype)
    index = (torch.arange(start, start + len(grad)) % n).reshape(-1, *([1] * (grad.dim() - 1)))
    return out.scatter_add_(0, index.expand_as(grad), grad)
